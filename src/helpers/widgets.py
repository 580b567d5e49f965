"""The decoding playground: sliders around :mod:`helpers.decoding` (presentation only).

A prompt box, a strategy selector, sliders for every decoding setting, a Generate button,
a Step button (one token at a time) and a chart of the next-token distribution before and
after the current temperature / top-k / top-p. Every number comes from ``decoding``; the
callbacks are plain methods, so they are tested without a browser.

Step keeps the token ids it chose. Encoding the text again could merge tokens the model
never chose (" New" + "York" is not " New York" as one token), and the next step would
then continue a sequence the model did not write. Editing the prompt by hand starts again
from its text.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers.decoding import (
    STRATEGIES,
    DecodingSettings,
    NextTokenView,
    context_length,
    generate_continuations,
    generate_text,
    next_token_view,
)
from helpers.plots import next_token_bars

SUGGESTED = {"top-k": ("top_k", 0, 50), "top-p": ("top_p", 1.0, 0.9)}
"""When a strategy is chosen whose filter is off, switch it on at a usual value."""

STYLE = {"description_width": "130px"}


def _slider(kind: type, name: str, value: float, low: float, high: float, step: float) -> Any:
    """A slider for the setting ``name``, acting when released (not while dragged)."""
    return kind(
        value=value,
        min=low,
        max=high,
        step=step,
        description=name.replace("_", " "),
        style=STYLE,
        layout=widgets.Layout(width="420px"),
        continuous_update=False,
    )


class DecodingPlayground:
    """Interactive decoding: build it, then display ``playground.widget`` in a notebook."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        prompt: str = "",
        settings: DecodingSettings | None = None,
        *,
        generate: Callable[..., list[str]] = generate_text,
        view: Callable[..., NextTokenView] = next_token_view,
        top_n: int = 12,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self._generate, self._view, self.top_n = generate, view, top_n
        start = settings or DecodingSettings(strategy="top-p", top_p=0.9)
        start.validate()
        longest = max(1, min(200, context_length(model) // 2))

        def slider(kind: type, name: str, low: float, high: float, step: float) -> Any:
            return _slider(kind, name, getattr(start, name), low, high, step)

        self.prompt = widgets.Textarea(
            value=prompt, description="prompt", layout=widgets.Layout(width="640px", height="70px")
        )
        self.strategy = widgets.Dropdown(
            options=STRATEGIES, value=start.strategy, description="strategy", style=STYLE
        )
        self.temperature = slider(widgets.FloatSlider, "temperature", 0.05, 2.0, 0.05)
        self.top_k = slider(widgets.IntSlider, "top_k", 0, 200, 1)
        self.top_p = slider(widgets.FloatSlider, "top_p", 0.01, 1.0, 0.01)
        self.num_beams = slider(widgets.IntSlider, "num_beams", 1, 8, 1)
        self.repetition_penalty = slider(widgets.FloatSlider, "repetition_penalty", 0.5, 2.0, 0.05)
        tokens = min(start.max_new_tokens, longest)
        self.max_new_tokens = _slider(widgets.IntSlider, "max_new_tokens", tokens, 1, longest, 1)
        self.seed = widgets.IntText(value=start.seed or 0, description="seed", style=STYLE)
        self.generate_button = widgets.Button(description="Generate", button_style="primary")
        self.step_button = widgets.Button(description="Step (+1 token)")
        self.output = widgets.HTML(value="")
        self.info = widgets.HTML(value="")
        self.chart = widgets.Image(format="png")
        self.last_view: NextTokenView | None = None
        self.last_output = ""
        self.ids: list[int] | None = None  # the tokens behind the prompt after Step
        self._ids_text: str | None = None  # the prompt text those tokens make

        self.generate_button.on_click(self.on_generate)
        self.step_button.on_click(self.on_step)
        self.strategy.observe(self.on_strategy, names="value")
        for control in (self.prompt, self.temperature, self.top_k, self.top_p, self.num_beams,
                        self.repetition_penalty):  # fmt: skip
            control.observe(self.redraw, names="value")
        self.redraw()

    # --- reading the controls -----------------------------------------------------------

    def settings(self) -> DecodingSettings:
        """The controls' current values as checked :class:`DecodingSettings`."""
        settings = DecodingSettings(
            strategy=self.strategy.value,
            max_new_tokens=self.max_new_tokens.value,
            temperature=self.temperature.value,
            top_k=self.top_k.value,
            top_p=self.top_p.value,
            repetition_penalty=self.repetition_penalty.value,
            num_beams=self.num_beams.value,
            seed=self.seed.value,
        )
        settings.validate()
        return settings

    def prompt_tokens(self) -> list[int] | None:
        """The token ids Step chose, while the prompt box still shows their text; else None."""
        if self.ids is not None and self.prompt.value == self._ids_text:
            return self.ids
        return None

    def _prompt(self) -> str | list[int]:
        """What the decoders continue: the kept token ids, else the prompt's text."""
        ids = self.prompt_tokens()
        return self.prompt.value if ids is None else ids

    # --- callbacks ----------------------------------------------------------------------

    def on_strategy(self, change: dict | None = None) -> None:
        """A filter strategy whose filter is off gets a usual value; then redraw."""
        name, off, usual = SUGGESTED.get(self.strategy.value, (None, None, None))
        if name is not None and getattr(self, name).value == off:
            getattr(self, name).value = usual  # its observer redraws
        else:
            self.redraw()

    def on_generate(self, button: Any = None) -> str:
        """Continue the prompt with the current settings; show and return the new text."""
        try:
            settings = self.settings()
            prompt = self._prompt()
            prompts = prompt if isinstance(prompt, str) else [prompt]
            new_text = self._generate(self.model, self.tokenizer, prompts, settings=settings)[0]
        except ValueError as error:
            self._show_error(error)
            return ""
        self.last_output = new_text
        self.output.value = (
            f"<pre style='white-space: pre-wrap'>{html.escape(self.prompt.value)}"
            f"<b style='color:#4c72b0'>{html.escape(new_text)}</b></pre>"
        )
        return new_text

    def on_step(self, button: Any = None) -> str:
        """Append one token chosen with the current settings to the prompt (redraws).

        The chosen token's id is kept with the prompt's, and the next step continues those
        ids, not the text encoded again (see the module's docstring).
        """
        prompt = self._prompt()
        try:
            settings = replace(self.settings(), max_new_tokens=1)
            chosen = generate_continuations(
                self.model, self.tokenizer, prompt if isinstance(prompt, str) else [prompt],
                settings=settings,
            )  # fmt: skip
        except ValueError as error:
            self._show_error(error)
            return ""
        if not chosen.new_ids[0]:
            self.info.value = "<i>The model chose end-of-text: the document is over.</i>"
            return ""
        if isinstance(prompt, str):  # an empty prompt starts from end-of-text
            prompt = self.tokenizer(prompt)["input_ids"] or chosen.prompt_ids[0]
        self.ids = list(prompt) + chosen.new_ids[0]
        self._ids_text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        self.prompt.value = self._ids_text  # the prompt's observer redraws the chart
        return chosen.texts[0]

    def redraw(self, change: dict | None = None) -> NextTokenView | None:
        """Recompute the next-token distribution and draw it before/after the filters."""
        try:
            settings = self.settings()
            view = self._view(self.model, self.tokenizer, self._prompt(), settings)
        except ValueError as error:
            self._show_error(error)
            return None
        top = torch.topk(view.scaled_probs, min(self.top_n, view.scaled_probs.numel())).indices
        labels = [self.tokenizer.decode([int(token)]) for token in top]
        figure = next_token_bars(
            labels,
            view.scaled_probs[top].tolist(),
            view.final_probs[top].tolist(),
            view.kept[top].tolist(),
            view.kept_mass,
            title=f"next token after the prompt ({settings.strategy})",
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        plt.close(figure)
        self.chart.value = buffer.getvalue()
        self.info.value = (
            f"{int(view.kept.sum())} token(s) kept, holding {view.kept_mass:.1%} of the "
            f"probability (after penalties and temperature)."
        )
        self.last_view = view
        return view

    def _show_error(self, error: Exception) -> None:
        self.info.value = f"<b style='color:#c44e52'>{html.escape(str(error))}</b>"

    # --- display ------------------------------------------------------------------------

    @property
    def widget(self) -> widgets.Widget:
        """The whole playground as one widget box."""
        sliders = widgets.VBox(
            [
                self.strategy,
                self.temperature,
                self.top_k,
                self.top_p,
                self.num_beams,
                self.repetition_penalty,
                self.max_new_tokens,
                self.seed,
            ]
        )
        buttons = widgets.HBox([self.generate_button, self.step_button])
        return widgets.VBox(
            [self.prompt, widgets.HBox([sliders, self.chart]), buttons, self.info, self.output]
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
