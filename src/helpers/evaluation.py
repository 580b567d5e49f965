"""Compare decoding strategies on the same prompts with every metric, in one table.

Each decoder continues the same prompts; its continuations are then measured for
quality (their perplexity under the model, and how far that is from the perplexity of
human text of the corpus), diversity (distinct-n, rep-n, self-BLEU), relevance (word
distribution against held-out text; perplexity under a reference model) and
memorisation (n-grams copied from the training data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers.decoding import Continuations, generate_continuations
from helpers.metrics import (
    NgramIndex,
    distinct_n,
    memorisation,
    rep_n,
    self_bleu,
    simctg_diversity,
    unigram_js_divergence,
    whitespace_token_ids,
)
from helpers.perplexity import perplexity, token_perplexity

DEFAULT_DECODERS: dict[str, dict[str, Any]] = {
    "greedy": {"strategy": "greedy"},
    "beam 4": {"strategy": "beam", "num_beams": 4, "no_repeat_ngram_size": 0},
    "top-k 50": {"strategy": "top-k", "top_k": 50},
    "top-p 0.9": {"strategy": "top-p", "top_p": 0.9},
    "temperature 0.7": {"strategy": "sample", "temperature": 0.7},
}

COLUMNS = {  # column: (header, format)
    "decoder": ("decoder", "{}"),
    "perplexity": ("gen. PPL", "{:.1f}"),
    "ppl_gap": ("|log PPL gap|", "{:.2f}"),
    "reference_perplexity": ("ref. PPL", "{:.1f}"),
    "distinct_2": ("distinct-2", "{:.3f}"),
    "rep_2": ("rep-2", "{:.1f}"),
    "diversity": ("diversity", "{:.3f}"),
    "self_bleu": ("self-BLEU", "{:.1f}"),
    "js_divergence": ("JS div.", "{:.3f}"),
    "copied_share": ("copied 8-grams", "{:.1%}"),
    "longest_copy": ("longest copy", "{}"),
}


@dataclass
class ComparisonTable:
    """Rows of metrics per decoder; prints as text, renders as HTML in a notebook."""

    rows: list[dict[str, Any]]
    human_perplexity: float
    samples: dict[str, list[str]] = field(repr=False, default_factory=dict)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        keys = [k for k in COLUMNS if any(k in row for row in self.rows)]
        headers = [COLUMNS[k][0] for k in keys]
        body = [
            [
                "n/a"
                if row.get(k) is None or (isinstance(row.get(k), float) and math.isnan(row[k]))
                else COLUMNS[k][1].format(row[k])
                for k in keys
            ]
            for row in self.rows
        ]
        return headers, body

    def __str__(self) -> str:
        headers, body = self._cells()
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
        lines.append(f"human text of the corpus: PPL {self.human_perplexity:.1f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        headers, body = self._cells()
        head = "".join(f"<th>{h}</th>" for h in headers)
        rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
        caption = f"human text of the corpus: PPL {self.human_perplexity:.1f}"
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{rows}</table>"

    def column(self, key: str) -> list[Any]:
        return [row[key] for row in self.rows]


def _continuation_perplexity(model: PreTrainedModel, generated: Continuations) -> float:
    """Perplexity of the tokens the decoder chose, each read after its prompt.

    The ids are scored as generated: the text encoded again could be other tokens.
    """
    rows = [i for i, ids in enumerate(generated.new_ids) if ids]
    if not rows:
        return math.nan
    characters = sum(len(generated.texts[i]) for i in rows)
    return token_perplexity(
        model,
        [generated.new_ids[i] for i in rows],
        characters=max(1, characters),
        contexts=[generated.prompt_ids[i] for i in rows],
    ).perplexity


def compare_decoders(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    human_texts: Sequence[str],
    decoders: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    training_index: NgramIndex | None = None,
    reference_model: PreTrainedModel | None = None,
    max_new_tokens: int = 40,
    samples_per_prompt: int = 1,
    seed: int = 0,
) -> ComparisonTable:
    """Run each decoder on ``prompts`` and measure its continuations.

    ``human_texts`` are held-out passages of the corpus (their perplexity is the target a
    good decoder's text should be near; their words are the style reference).
    ``training_index`` (token 8-grams of the training split) enables the memorisation
    columns (runs of whitespace tokens are not counted as copies); ``reference_model``
    (e.g. the untuned base model) adds the perplexity of the generated text under it.
    """
    decoders = dict(decoders or DEFAULT_DECODERS)
    human = perplexity(model, tokenizer, human_texts)
    blank_ids = whitespace_token_ids(tokenizer) if training_index is not None else frozenset()
    rows, samples = [], {}
    for name, params in decoders.items():
        params = dict(params)
        strategy = params.pop("strategy")
        count = samples_per_prompt if strategy != "greedy" else 1
        if strategy == "beam":
            params.setdefault("num_beams", max(4, count))
        if strategy in ("sample", "top-k", "top-p"):
            params.setdefault("seed", seed)
        generated = generate_continuations(
            model, tokenizer, list(prompts), strategy, max_new_tokens=max_new_tokens,
            num_return_sequences=count, **params,
        )  # fmt: skip
        texts = generated.texts
        samples[name] = texts
        row: dict[str, Any] = {"decoder": name}
        gen = _continuation_perplexity(model, generated)
        row["perplexity"] = gen
        row["ppl_gap"] = (
            math.nan if math.isnan(gen) else abs(math.log(gen) - math.log(human.perplexity))
        )
        if reference_model is not None:
            row["reference_perplexity"] = _continuation_perplexity(reference_model, generated)
        nonblank = [t for t in texts if t.strip()]
        row["distinct_2"] = distinct_n(nonblank, 2) if nonblank else math.nan
        row["rep_2"] = rep_n(nonblank, 2) if nonblank else math.nan
        row["diversity"] = simctg_diversity(nonblank) if nonblank else math.nan
        row["self_bleu"] = self_bleu(nonblank) if len(nonblank) >= 2 else math.nan
        row["js_divergence"] = (
            unigram_js_divergence(nonblank, human_texts) if nonblank else math.nan
        )
        if training_index is not None:
            report = memorisation(generated.new_ids, training_index, skip=blank_ids)
            row["copied_share"] = report.copied_share
            row["longest_copy"] = report.longest_copied_span
        rows.append(row)
    return ComparisonTable(rows, human.perplexity, samples)
