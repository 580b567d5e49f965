"""A small web app for a trained model, built on Gradio.

Type a prompt, pick a decoding strategy and its settings (defaults from the model's
``generation_config.json``), and watch several samples appear token by token. Each sample
has 👍 / 👎 buttons that append the prompt, the settings, the text and the rating to a
JSONL file: the feedback that notebook 07 reads back. The model is loaded once; requests
are queued; prompt length and ``max_new_tokens`` are capped; bad settings get a message,
not a traceback. Presentation only: generation is :func:`helpers.decoding.stream_text`,
and what the app accepts (settings, requests, ratings) is ``helpers.app_requests``.

Programs use the same app through two named endpoints, ``/generate`` and ``/feedback``
(see the README, "The app's API"); the page's own events are private to it.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

# what the app accepts lives in app_requests; these names are the app's API too
from helpers.app_requests import (  # noqa: F401 (re-exported)
    MAX_SAMPLES,
    AppConfig,
    RequestError,
    check_feedback_file,
    check_request,
    default_feedback_file,
    filters_for_strategy,
    fit_to_model,
    read_feedback,
    record_feedback,
)
from helpers.decoding import (
    STRATEGIES,
    DecodingSettings,
    generate_text,
    settings_from_generation_config,
)
from helpers.decoding import stream_text as decoding_stream_text
from helpers.environment import in_colab
from helpers.model_source import ModelSource


def model_label(source: ModelSource) -> str:
    """One honest line about the model being served."""
    if source.is_offline_model:
        return (
            "⚠️ **Offline model, untrained** (random weights, not GPT-2): its text is noise. "
            "Train one with notebook 03 or `python -m helpers train`."
        )
    if source.is_offline_base:
        return (
            f"**Model:** the offline base `{source.location}`: a small GPT-2 pretrained on "
            f"public-domain English, not GPT-2, and not trained on your text. Fine-tune it "
            f"with notebook 03 or `python -m helpers train`."
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
    config = fit_to_model(config or AppConfig(), model)
    defaults = settings_from_generation_config(model.generation_config)  # (before gradio loads)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

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
