"""A small web app for a trained model, built on Gradio.

Type a prompt, pick a decoding strategy and its settings (defaults from the model's
``generation_config.json``), and watch several samples appear token by token. Each sample
has 👍 / 👎 buttons that append the prompt, the settings, the text and the rating to a
JSONL file: the feedback that notebook 07 reads back. The model is loaded once; requests
are queued; prompt length and ``max_new_tokens`` are capped; bad settings get a message,
not a traceback. Presentation only: generation is :func:`helpers.decoding.stream_text`.

Programs use the same app through two named endpoints, ``/generate`` and ``/feedback``
(see the README, "The app's API"); the page's own events are private to it.
"""

import json
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers.decoding import (
    STRATEGIES,
    DecodingSettings,
    context_length,
    generate_text,
    settings_from_generation_config,
)
from helpers.decoding import stream_text as decoding_stream_text
from helpers.environment import in_colab, project_root
from helpers.model_source import ModelSource

MAX_SAMPLES = 4


def default_feedback_file() -> Path:
    """``feedback/feedback.jsonl`` in the course folder (git-ignored)."""
    return project_root() / "feedback" / "feedback.jsonl"


@dataclass
class AppConfig:
    """How the app is served and what it allows."""

    host: str = field(default="127.0.0.1", metadata={"help": "0.0.0.0 to serve on the network"})
    port: int = field(default=7860, metadata={"help": "port (0: any free port)"})
    share: bool = field(default=False, metadata={"help": "public Gradio link (Colab)"})
    max_prompt_characters: int = field(default=2000, metadata={"help": "longest prompt"})
    max_new_tokens_cap: int = field(default=200, metadata={"help": "most tokens per sample"})
    feedback_file: str = field(
        default_factory=lambda: str(default_feedback_file()),
        metadata={"help": "where 👍/👎 ratings are appended (JSONL)"},
    )
    concurrency: int = field(default=1, metadata={"help": "requests generated at once"})

    def __post_init__(self) -> None:
        for name in ("max_prompt_characters", "max_new_tokens_cap", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (got {getattr(self, name)}).")
        check_feedback_file(self.feedback_file)


def check_feedback_file(path: str | os.PathLike) -> None:
    """Raise a one-line ValueError when ratings could not be appended to ``path``.

    Looks only: the file (or the folders up to it) is created by the first rating.
    """
    path = Path(path)
    fix = "give the path of a file (--feedback-file), e.g. feedback/feedback.jsonl."
    if path.is_dir():
        raise ValueError(f"The feedback file {path} is a folder: {fix}")
    if path.exists():
        if not path.is_file():
            raise ValueError(f"The feedback file {path} is not a regular file: {fix}")
        if not os.access(path, os.W_OK):
            raise ValueError(f"The feedback file {path} cannot be written (no permission): {fix}")
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the folders a rating would make
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(
            f"The feedback file {path} cannot be made: {folder} is a file, not a folder; {fix}"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(
            f"The feedback file {path} cannot be made: the folder {folder} cannot be written "
            f"(no permission); {fix}"
        )


def fit_to_model(config: AppConfig, model: PreTrainedModel) -> AppConfig:
    """``config`` with ``max_new_tokens_cap`` no larger than the model's context allows
    (one position is left for the prompt); says so in one line when it lowers it."""
    try:
        most = context_length(model) - 1
    except AttributeError:  # a config that does not say: the decoders will check
        return config
    if config.max_new_tokens_cap <= most:
        return config
    print(
        f"max_new_tokens_cap lowered from {config.max_new_tokens_cap:,} to {most:,}: the "
        f"model's context holds {most + 1:,} tokens, and the prompt needs at least one.",
        flush=True,
    )
    return replace(config, max_new_tokens_cap=most)


class RequestError(ValueError):
    """A request the app refuses; the message is shown to the user."""


def _whole(name: str, value: Any) -> int:
    """A whole number given as int or float (sliders and number boxes give floats)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise RequestError(f"{name} must be a whole number (got {value!r}).")
    return int(value)


def _check_text(what: str, text: Any) -> str:
    """``text`` if it is text that can be stored and tokenized (UTF-8), else RequestError."""
    if not isinstance(text, str):
        raise RequestError(f"The {what} must be text (got {type(text).__name__}).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RequestError(
            f"The {what} is not valid text ({text[error.start]!r} at character "
            f"{error.start + 1} is not a Unicode character): type or paste it again."
        ) from None
    return text


def check_request(
    prompt: str, settings: dict[str, Any], samples: int, config: AppConfig
) -> DecodingSettings:
    """Turn the form's values into checked :class:`DecodingSettings`, or raise RequestError."""
    _check_text("prompt", prompt)
    if len(prompt) > config.max_prompt_characters:
        raise RequestError(
            f"The prompt has {len(prompt):,} characters; the limit is "
            f"{config.max_prompt_characters:,}. Shorten it."
        )
    samples = _whole("samples", samples)
    if not 1 <= samples <= MAX_SAMPLES:
        raise RequestError(f"Ask for 1 to {MAX_SAMPLES} samples (got {samples}).")
    values = dict(settings)
    values["max_new_tokens"] = _whole("max_new_tokens", values.get("max_new_tokens", 40))
    if values["max_new_tokens"] > config.max_new_tokens_cap:
        raise RequestError(
            f"max_new_tokens={values['max_new_tokens']} is above this app's limit of "
            f"{config.max_new_tokens_cap}."
        )
    for name in ("top_k", "num_beams", "no_repeat_ngram_size"):
        if name in values:
            values[name] = _whole(name, values[name])
    if "seed" in values:  # none, empty or negative: a random seed
        seed = None if values["seed"] in ("", None) else _whole("seed", values["seed"])
        values["seed"] = None if seed is None or seed < 0 else seed
    values["num_return_sequences"] = 1 if values.get("strategy") == "greedy" else samples
    try:
        chosen = DecodingSettings(**values)
        chosen.validate()
    except (TypeError, ValueError) as error:
        raise RequestError(str(error)) from error
    return chosen


def filters_for_strategy(strategy: str, top_k: float, top_p: float) -> tuple[int, float]:
    """Switch on the filter a strategy is named after when it is off (top-k 50, top-p 0.9)."""
    top_k, top_p = int(top_k), float(top_p)
    if strategy == "top-k" and top_k == 0:
        top_k = 50
    if strategy == "top-p" and top_p >= 1.0:
        top_p = 0.9
    return top_k, top_p


_feedback_lock = threading.Lock()


def record_feedback(
    path: str | os.PathLike, prompt: str, settings: dict[str, Any], text: str, rating: int
) -> dict[str, Any]:
    """Append one rating (+1 or -1) as a JSON line; returns the record written."""
    if rating not in (1, -1):
        raise RequestError(f"rating must be +1 or -1 (got {rating}).")
    if text is None or isinstance(text, str) and not text.strip():
        raise RequestError("There is no text to rate yet: generate first.")
    _check_text("prompt", prompt)
    _check_text("text", text)
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "prompt": prompt,
        "settings": settings,
        "text": text,
        "rating": rating,
    }
    try:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        line.encode("utf-8")
    except (TypeError, ValueError) as error:
        raise RequestError(f"These settings cannot be recorded ({error}).") from None
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _feedback_lock, open(path, "a", encoding="utf-8") as file:
            if file.tell() and not _ends_a_line(path):  # a line cut short by a crash: end it
                file.write("\n")
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise RequestError(
            f"The rating could not be saved to {path} ({error.strerror or error}): whoever "
            f"runs the app should check --feedback-file."
        ) from None
    return record


def _ends_a_line(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def read_feedback(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a feedback file (an absent file has none). Lines that are not a
    record (cut short by a crash, edited by hand) are skipped, and counted in a warning."""
    path = Path(path)
    if not path.is_file():
        return []
    records, bad = [], []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            bad.append(number)
    if bad:
        where = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        warnings.warn(
            f"{path}: skipped {len(bad)} line(s) that are not JSON records (line {where}); "
            f"read the other {len(records)}. Lines are cut short by a crash or broken by "
            f"hand edits: delete them to silence this.",
            stacklevel=2,
        )
    return records


def model_label(source: ModelSource) -> str:
    """One honest line about the model being served."""
    if source.is_offline_model:
        return (
            "⚠️ **Offline model, untrained** (random weights, not GPT-2): its text is noise. "
            "Train one with notebook 03 or `python -m helpers train`."
        )
    where = {"local": "fine-tuned model in", "hub-cache": "cached Hub model", "hub": "Hub model"}
    return f"**Model:** {where[source.kind]} `{source.location}`"


def stream_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    settings: DecodingSettings,
) -> Iterator[list[str]]:
    """The samples so far, after each new token (beam search: once, at the end)."""
    yield from decoding_stream_text(model, tokenizer, [prompt], settings=settings)


def build_app(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    source: ModelSource,
    config: AppConfig | None = None,
):
    """The Gradio Blocks of the app (not launched)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    config = fit_to_model(config or AppConfig(), model)
    defaults = settings_from_generation_config(model.generation_config)
    default_tokens = min(defaults.max_new_tokens, config.max_new_tokens_cap)

    with gr.Blocks(title="GPT-2 Lab") as app:
        gr.Markdown("# GPT-2 Lab · text generation")
        gr.Markdown(model_label(source), elem_id="model-label")
        prompt = gr.Textbox(label="Prompt", lines=3, elem_id="prompt", max_length=None)
        with gr.Row():
            strategy = gr.Dropdown(
                list(STRATEGIES), value=defaults.strategy, label="Strategy", elem_id="strategy"
            )
            samples = gr.Number(
                value=2, minimum=1, maximum=MAX_SAMPLES, precision=0, label="Samples", elem_id="n"
            )
            max_new_tokens = gr.Slider(
                1,
                config.max_new_tokens_cap,
                value=default_tokens,
                step=1,
                label="Max new tokens",
                elem_id="max-new-tokens",
            )
        with gr.Row():
            # a model's saved settings (notebook 06) may lie past a slider's usual end: widen it
            temperature = gr.Slider(
                0.05,
                max(2.0, defaults.temperature),
                value=defaults.temperature,
                step=0.05,
                label="Temperature",
                elem_id="temperature",
            )
            top_k = gr.Slider(
                0,
                max(200, defaults.top_k),
                value=defaults.top_k,
                step=1,
                label="Top-k (0: off)",
                elem_id="top-k",
            )
            top_p = gr.Slider(
                0.05, 1.0, value=defaults.top_p, step=0.01, label="Top-p (1: off)", elem_id="top-p"
            )
        with gr.Row():
            num_beams = gr.Slider(
                1, 8, value=defaults.num_beams, step=1, label="Beams", elem_id="beams"
            )
            repetition_penalty = gr.Slider(
                1.0,
                max(2.0, defaults.repetition_penalty),
                value=defaults.repetition_penalty,
                step=0.05,
                label="Repetition penalty",
            )
            seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", elem_id="seed")
        generate = gr.Button("Generate", variant="primary", elem_id="generate")
        strategy.change(
            filters_for_strategy,
            inputs=[strategy, top_k, top_p],
            outputs=[top_k, top_p],
            api_visibility="private",
        )
        status = gr.Markdown("", elem_id="status")
        used_settings = gr.State({})
        outputs, ups, downs = [], [], []
        with gr.Row():
            for i in range(MAX_SAMPLES):
                with gr.Column(visible=i < 2) as column:
                    text = gr.Textbox(
                        label=f"Sample {i + 1}",
                        lines=8,
                        interactive=False,
                        elem_id=f"sample-{i + 1}",
                    )
                    with gr.Row():
                        up = gr.Button("👍", size="sm", elem_id=f"up-{i + 1}")
                        down = gr.Button("👎", size="sm", elem_id=f"down-{i + 1}")
                outputs.append((column, text))
                ups.append(up)
                downs.append(down)

        def on_generate(prompt_text, strategy_name, n, tokens, temp, k, p, beams, penalty, s):
            form = {
                "strategy": strategy_name,
                "max_new_tokens": tokens,
                "temperature": temp,
                "top_k": k,
                "top_p": p,
                "num_beams": beams,
                "repetition_penalty": penalty,
                "seed": s,
            }
            unchanged = [gr.update()] * (2 * MAX_SAMPLES)
            try:
                chosen = check_request(prompt_text or "", form, 1 if n is None else n, config)
            except RequestError as error:
                yield [f"⚠️ {error}", {}] + unchanged
                return
            count = chosen.num_return_sequences  # greedy gives one sample whatever n says
            shown = [gr.update(visible=i < count) for i in range(MAX_SAMPLES)]
            used = asdict(chosen)
            texts: list[str] = []
            try:
                for texts in stream_samples(model, tokenizer, prompt_text or "", chosen):
                    padded = list(texts) + [""] * (MAX_SAMPLES - len(texts))
                    yield ["Generating…", used] + shown + padded[:MAX_SAMPLES]
            except ValueError as error:  # a request the decoders refuse, with their message
                yield [f"⚠️ {error}", {}] + unchanged
                return
            padded = list(texts) + [""] * (MAX_SAMPLES - len(texts))
            yield [f"Done: {len(texts)} sample(s).", used] + shown + padded[:MAX_SAMPLES]

        inputs = [
            prompt,
            strategy,
            samples,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            num_beams,
            repetition_penalty,
            seed,
        ]
        generate.click(
            on_generate,
            inputs=inputs,
            outputs=[status, used_settings] + [c for c, _ in outputs] + [t for _, t in outputs],
            concurrency_limit=config.concurrency,
            concurrency_id="generate",
            api_visibility="private",
        )

        def rate(index: int, rating: int):
            def handler(prompt_text, settings, text):
                try:
                    record_feedback(config.feedback_file, prompt_text or "", settings, text, rating)
                except RequestError as error:
                    return f"⚠️ {error}"
                mark = "👍" if rating > 0 else "👎"
                return f"Saved {mark} for sample {index + 1} to `{config.feedback_file}`."

            return handler

        for i, (_, text) in enumerate(outputs):
            for button, rating in ((ups[i], 1), (downs[i], -1)):
                button.click(
                    rate(i, rating),
                    inputs=[prompt, used_settings, text],
                    outputs=status,
                    api_visibility="private",
                )

        api = api_endpoints(model, tokenizer, config, defaults, default_tokens)
        gr.api(
            api["generate"],
            api_name="generate",
            concurrency_limit=config.concurrency,
            concurrency_id="generate",
        )
        gr.api(api["feedback"], api_name="feedback")
    app.queue(max_size=32)
    return app


def api_endpoints(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: AppConfig,
    defaults: DecodingSettings,
    default_tokens: int,
) -> dict[str, Callable[..., Any]]:
    """The functions behind ``/generate`` and ``/feedback``; Gradio reads their type hints.

    They check and record exactly as the page does; a refused request raises
    ``gradio.Error`` with the page's message, which the client raises in turn.
    """
    import gradio as gr

    def generate(
        prompt: str,
        strategy: str = defaults.strategy,
        samples: int = 1,
        max_new_tokens: int = default_tokens,
        temperature: float = defaults.temperature,
        top_k: int = defaults.top_k,
        top_p: float = defaults.top_p,
        num_beams: int = defaults.num_beams,
        repetition_penalty: float = defaults.repetition_penalty,
        seed: int = -1,
    ) -> list[str]:
        """Continue the prompt: `samples` texts (greedy search gives one). seed -1: random."""
        form = {
            "strategy": strategy,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "num_beams": num_beams,
            "repetition_penalty": repetition_penalty,
            "seed": seed,
        }
        try:
            chosen = check_request(prompt or "", form, samples, config)
            return generate_text(model, tokenizer, [prompt or ""], settings=chosen)
        except ValueError as error:  # RequestError, or a request the decoders refuse
            raise gr.Error(str(error), print_exception=False) from None

    def feedback(prompt: str, text: str, rating: int, settings: dict | None = None) -> str:
        """Record a rating of a generated text (+1 good, -1 bad) in the app's feedback file."""
        try:
            record_feedback(config.feedback_file, prompt or "", settings or {}, text, rating)
        except RequestError as error:
            raise gr.Error(str(error), print_exception=False) from None
        return f"Saved {'👍' if rating > 0 else '👎'}."

    return {"generate": generate, "feedback": feedback}


def launch(app: Any, config: AppConfig, block: bool = True) -> tuple[Any, str]:
    """Serve the app; returns (app, local URL), with settings that work offline.

    Never public by default: a ``*.gradio.live`` share link is made only when
    ``config.share`` asks for one, and then printed with what it exposes.
    """
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    _, url, share_url = app.launch(
        server_name=config.host,
        server_port=config.port or None,
        share=config.share,
        inline=False,  # show_in_notebook decides how a notebook shows it
        ssr_mode=False,
        prevent_thread_lock=not block,
        quiet=True,
    )
    if config.share and share_url:
        print(
            f"Public link: {share_url} (anyone who has it can use the app, and your "
            f"runtime's compute, until the app stops or the link expires)"
        )
    return app, url


def show_in_notebook(url: str, height: int = 760) -> str:
    """Show a running app inside the notebook; returns how it was shown.

    On Colab the browser cannot open the VM's ``127.0.0.1``: Colab proxies the port to the
    notebook, and the app appears in a frame below the cell (``"colab-proxy"``).
    Elsewhere the local URL is printed, to open in a browser (``"local-url"``).
    """
    from urllib.parse import urlparse

    if in_colab():
        from google.colab import output

        port = urlparse(url).port or 80
        print(f"The app, through Colab's proxy of port {port} (only you can open it):")
        output.serve_kernel_port_as_iframe(port, height=height)
        return "colab-proxy"
    print(f"The app is at {url} (this machine only): open it in a browser.")
    return "local-url"
