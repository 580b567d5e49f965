"""Compare decoding strategies like with like: the same prompts, lengths, counts and metrics.

Every decoder continues every prompt once per seed with exactly ``max_new_tokens`` tokens
(the end-of-text token does not stop it, so all texts have the same length); beam search
keeps its best beam only. A **human** row holds the held-out text that really followed
each prompt, cut to the same number of tokens, and is measured the same way. Sampling
decoders run once per seed and report the mean over seeds with half the range
(max − min) / 2 as the interval; greedy, beam search and the human text do not depend
on a seed.

Columns: the perplexity of the continuation under the model (scored after its prompt,
as generated) and its distance to the human row's; relevance (PMI of continuation and
prompt, :mod:`helpers.relevance`); coherence (prompt–continuation cosine,
:mod:`helpers.coherence`); rep-n, distinct-n and the diversity product; self-BLEU
**across prompts** (each text against the same decoder's continuations of the *other*
prompts: how much a decoder says the same thing whatever it is asked); and, with a
training index, the share of 8-grams copied from the training data. The n-gram measures
(rep-n, distinct-n, self-BLEU) count the **token ids** the decoder chose, so a loop of
blank lines counts as repetition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers.coherence import coherence as coherence_scores
from helpers.decoding import context_length, encode_prompts, make_settings, run_decoder
from helpers.metrics import (
    NgramIndex,
    distinct_n,
    memorisation,
    rep_n,
    self_bleu,
    simctg_diversity,
    whitespace_token_ids,
)
from helpers.relevance import continuation_log_probs

DEFAULT_DECODERS: dict[str, dict[str, Any]] = {  # the rows of Holtzman et al. (2020), Table 1
    "greedy": {"strategy": "greedy"},
    "beam 4": {"strategy": "beam", "num_beams": 4},
    "pure sampling": {"strategy": "sample"},  # temperature 1, no truncation
    "temperature 0.7": {"strategy": "sample", "temperature": 0.7},
    "top-k 40": {"strategy": "top-k", "top_k": 40},
    "top-p 0.95": {"strategy": "top-p", "top_p": 0.95},
}
HUMAN = "human"

COLUMNS = {  # column: (header, format)
    "decoder": ("decoder", "{}"),
    "tokens": ("tokens", "{:.0f}"),
    "perplexity": ("gen. PPL", "{:.1f}"),
    "ppl_gap": ("|log PPL gap|", "{:.2f}"),
    "relevance": ("relevance (PMI/token)", "{:+.3f}"),
    "coherence": ("coherence", "{:.3f}"),
    "rep_2": ("rep-2", "{:.1f}"),
    "rep_4": ("rep-4", "{:.1f}"),
    "distinct_2": ("distinct-2", "{:.3f}"),
    "diversity": ("diversity", "{:.3f}"),
    "self_bleu": ("self-BLEU", "{:.1f}"),
    "copied_share": ("copied 8-grams", "{:.1%}"),
    "longest_copy": ("longest copy", "{:.0f}"),
    "mauve": ("MAUVE", "{:.3f}"),
}
SPREAD = "_spread"  # row[key + SPREAD]: half the range over seeds (None: one run)


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass
class ComparisonTable:
    """Rows of metrics per decoder (the human row first); text with ``print``, HTML in Jupyter."""

    rows: list[dict[str, Any]]
    human_perplexity: float  # of the human continuations, scored like the generated ones
    samples: dict[str, list[str]] = field(repr=False, default_factory=dict)  # first seed
    coherence_method: str = ""
    relevance_model: str = ""
    seeds: tuple[int, ...] = ()

    def _cell(self, row: dict[str, Any], key: str) -> str:
        if _nan(row.get(key)):
            return "n/a"
        text = COLUMNS[key][1].format(row[key])
        spread = row.get(key + SPREAD)
        if not _nan(spread):
            text += " ± " + COLUMNS[key][1].format(abs(spread)).lstrip("+")
        return text

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        keys = [k for k in COLUMNS if any(k in row for row in self.rows)]
        return [COLUMNS[k][0] for k in keys], [[self._cell(r, k) for k in keys] for r in self.rows]

    @property
    def caption(self) -> str:
        parts = [f"human continuations: PPL {self.human_perplexity:.1f}"]
        if self.seeds:
            parts.append(f"sampling rows: mean ± half-range over seeds {list(self.seeds)}")
        if self.relevance_model:
            parts.append(f"relevance under {self.relevance_model}")
        if self.coherence_method:
            parts.append(f"coherence: {self.coherence_method}")
        return "; ".join(parts)

    def __str__(self) -> str:
        headers, body = self._cells()
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
        return "\n".join([*lines, self.caption])

    def _repr_html_(self) -> str:
        headers, body = self._cells()
        head = "".join(f"<th>{h}</th>" for h in headers)
        rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
        return f"<table><caption>{self.caption}</caption><tr>{head}</tr>{rows}</table>"

    def row(self, name: str) -> dict[str, Any]:
        for row in self.rows:
            if row["decoder"] == name:
                return row
        raise KeyError(f"No row {name!r}; the rows are {[r['decoder'] for r in self.rows]}.")

    def column(self, key: str) -> list[Any]:
        return [row.get(key) for row in self.rows]

    def add_column(self, key: str, values: Mapping[str, float]) -> None:
        """Add a metric computed elsewhere (e.g. MAUVE), by decoder name; others get n/a."""
        if key not in COLUMNS:
            raise KeyError(f"Unknown column {key!r}: add it to COLUMNS first.")
        for row in self.rows:
            row[key] = values.get(row["decoder"])


def _human_continuations(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], human_texts: Sequence[str], n: int
) -> list[list[int]]:
    """The first ``n`` tokens of the human text after each prompt."""
    if len(human_texts) != len(prompts):
        raise ValueError(
            f"Give one human text per prompt (its real continuation, or a passage that starts "
            f"with the prompt): {len(human_texts)} human texts for {len(prompts)} prompts."
        )
    rests = [
        h[len(p) :] if h.startswith(p) else h for p, h in zip(prompts, human_texts, strict=True)
    ]
    ids = [tokenizer(rest, verbose=False)["input_ids"][:n] for rest in rests]
    short = [i for i, row in enumerate(ids) if len(row) < n]
    if short:
        warnings.warn(
            f"{len(short)} human continuation(s) have fewer than {n} tokens (the shortest "
            f"{min(len(ids[i]) for i in short)}): the human row is shorter than the others. "
            f"Pass longer passages or ask for fewer new tokens.",
            stacklevel=3,
        )
    return ids


def _generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: list[list[int]],
    params: dict[str, Any],
    max_new_tokens: int,
    seed: int | None,
) -> list[list[int]]:
    """One continuation per prompt, exactly ``max_new_tokens`` long: end-of-text is no stop."""
    params = {**params, "max_new_tokens": max_new_tokens, "num_return_sequences": 1}
    if make_settings(**params).samples:
        params["seed"] = seed
    settings = make_settings(**params)
    room = context_length(model) - max_new_tokens
    if room < 1:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} leaves no room for the prompt in the model's "
            f"{context_length(model)}-token context: ask for fewer new tokens."
        )
    input_ids, mask = encode_prompts(tokenizer, prompt_ids, room, device=model.device)
    output = run_decoder(model, input_ids, mask, settings, eos_token_id=[]).cpu()
    return output[:, input_ids.shape[1] :].tolist()


@dataclass
class _Scorer:
    """Everything that measures one set of continuations (one row, one seed)."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    prompts: list[str]
    prompt_ids: list[list[int]]
    reference_model: PreTrainedModel | None
    coherence_method: str
    idf_documents: Sequence[str] | None
    training_index: NgramIndex | None
    blank_ids: frozenset[int]
    coherence_label: str = ""

    def __call__(self, new_ids: list[list[int]]) -> dict[str, float]:
        texts = self.tokenizer.batch_decode(new_ids, skip_special_tokens=True)
        start = self.tokenizer.eos_token_id
        conditioned = [[start, *p] for p in self.prompt_ids]
        scored = [i for i, ids in enumerate(new_ids) if ids]
        ids = [new_ids[i] for i in scored]
        lengths = np.array([len(x) for x in ids], dtype=float)
        given_prompt = continuation_log_probs(self.model, [conditioned[i] for i in scored], ids)
        row: dict[str, float] = {"tokens": float(np.mean([len(x) for x in new_ids]))}
        row["perplexity"] = math.exp(-given_prompt.sum() / lengths.sum()) if ids else math.nan
        reference = self.reference_model or self.model
        if reference is not self.model:
            given_prompt = continuation_log_probs(reference, [conditioned[i] for i in scored], ids)
        alone = continuation_log_probs(reference, [[start]] * len(ids), ids)
        row["relevance"] = float(np.mean((given_prompt - alone) / lengths)) if ids else math.nan
        scores = coherence_scores(
            self.prompts, texts, self.coherence_method, idf_documents=self.idf_documents
        )
        self.coherence_label = scores.method
        row["coherence"] = scores.mean
        # n-gram measures on the token ids chosen (written as words): a loop of blank
        # lines is a repetition too, which a split on whitespace would not see
        units = [" ".join(map(str, x)) for x in new_ids if x]
        for n in (2, 4):
            row[f"rep_{n}"] = rep_n(units, n) if units else math.nan
        row["distinct_2"] = distinct_n(units, 2) if units else math.nan
        row["diversity"] = simctg_diversity(units) if units else math.nan
        row["self_bleu"] = self_bleu(units) if len(units) >= 2 else math.nan
        if self.training_index is not None:
            report = memorisation(new_ids, self.training_index, skip=self.blank_ids)
            row["copied_share"] = report.copied_share
            row["longest_copy"] = float(report.longest_copied_span)
        return row


def _aggregate(name: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    """Mean over runs; with several runs, half the range as ``key + SPREAD``."""
    row: dict[str, Any] = {"decoder": name, "runs": len(runs)}
    for key in runs[0]:
        values = np.array([run[key] for run in runs], dtype=float)
        row[key] = float(np.nanmean(values)) if not np.isnan(values).all() else math.nan
        if len(runs) > 1 and key != "tokens" and not np.isnan(values).all():
            row[key + SPREAD] = float(np.nanmax(values) - np.nanmin(values)) / 2
    return row


def compare_decoders(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    human_texts: Sequence[str],
    decoders: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    training_index: NgramIndex | None = None,
    reference_model: PreTrainedModel | None = None,
    coherence_method: str = "tfidf",
    idf_documents: Sequence[str] | None = None,
    max_new_tokens: int = 40,
    seeds: Sequence[int] = (0, 1, 2),
    samples_per_prompt: int | None = None,
    seed: int | None = None,
) -> ComparisonTable:
    """Continue each prompt with each decoder and measure it; the human text is a row too.

    ``human_texts[i]`` is the held-out text that followed ``prompts[i]`` (a passage that
    starts with the prompt, or just what came after it). ``reference_model`` scores
    relevance (default: ``model`` itself). ``coherence_method`` is ``"tfidf"`` (the
    offline stand-in) or ``"embedding"`` (sentence-transformers). ``training_index``
    (token 8-grams of the training split) adds the memorisation columns. Sampling decoders
    run once per seed in ``seeds``; ``samples_per_prompt=n`` with ``seed=s`` is the older
    spelling of ``seeds=range(s, s + n)``.
    """
    if samples_per_prompt is not None or seed is not None:
        first = 0 if seed is None else seed
        seeds = tuple(range(first, first + (samples_per_prompt or 1)))
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one, e.g. seeds=(0,).")
    if isinstance(prompts, str) or not prompts:
        raise ValueError("prompts must be a non-empty list of strings.")
    prompts = list(prompts)
    prompt_ids = [tokenizer(p, verbose=False)["input_ids"] for p in prompts]
    if not all(prompt_ids):
        raise ValueError("Every prompt needs at least one token: drop the empty ones.")
    score = _Scorer(
        model, tokenizer, prompts, prompt_ids, reference_model, coherence_method,
        idf_documents, training_index,
        whitespace_token_ids(tokenizer) if training_index is not None else frozenset(),
    )  # fmt: skip
    human_ids = _human_continuations(tokenizer, prompts, human_texts, max_new_tokens)
    human = _aggregate(HUMAN, [score(human_ids)])
    rows = [human]
    samples = {HUMAN: tokenizer.batch_decode(human_ids, skip_special_tokens=True)}
    for name, params in dict(decoders or DEFAULT_DECODERS).items():
        params = dict(params)
        sampling = make_settings(**params).samples
        runs = []
        for run_seed in seeds if sampling else (None,):
            new_ids = _generate(model, tokenizer, prompt_ids, params, max_new_tokens, run_seed)
            samples.setdefault(name, tokenizer.batch_decode(new_ids, skip_special_tokens=True))
            run = score(new_ids)
            run["ppl_gap"] = abs(math.log(run["perplexity"]) - math.log(human["perplexity"]))
            runs.append(run)
        rows.append(_aggregate(name, runs))
    human["ppl_gap"] = 0.0
    reference = reference_model if reference_model is not None else model
    return ComparisonTable(
        rows,
        human["perplexity"],
        samples,
        coherence_method=score.coherence_label,
        relevance_model="the evaluated model" if reference is model else "the reference model",
        seeds=seeds,
    )


# ------------------------------------------------------------ the orderings of Holtzman et al.


@dataclass(frozen=True)
class OrderingCheck:
    """One ordering of Holtzman et al. (2020, Table 1), checked on a table's means."""

    claim: str
    holds: bool  # on the means
    separated: bool  # and no seed interval overlaps the value it is compared with
    evidence: str  # the numbers, as "name value ± spread"


def _value(table: ComparisonTable, name: str, key: str) -> tuple[float, float]:
    row = table.row(name)
    spread = row.get(key + SPREAD)
    return row[key], 0.0 if _nan(spread) else spread


def _chain(table: ComparisonTable, names: Sequence[str], key: str, claim: str) -> OrderingCheck:
    """``names`` in increasing order of ``key``: every consecutive pair checked."""
    values = [_value(table, name, key) for name in names]
    pairs = list(zip(values, values[1:], strict=False))
    holds = all(a < b for (a, _), (b, _) in pairs)
    separated = holds and all(a + sa < b - sb for (a, sa), (b, sb) in pairs)
    fmt = COLUMNS[key][1]
    evidence = ", ".join(
        f"{n} {fmt.format(v)}" + (f" ± {fmt.format(s)}" if s else "")
        for n, (v, s) in zip(names, values, strict=True)
    )
    return OrderingCheck(claim, holds, separated, evidence)


def holtzman_orderings(
    table: ComparisonTable,
    greedy: str = "greedy",
    beam: str = "beam 4",
    nucleus: str = "top-p 0.95",
    pure: str = "pure sampling",
) -> list[OrderingCheck]:
    """Check the table against the orderings of Holtzman et al. (2020), Table 1.

    Maximisation repeats more than nucleus sampling (rep-2); its continuations of
    different prompts resemble each other more (self-BLEU); and generated-text perplexity
    runs greedy < human < pure sampling.
    """
    checks = []
    for key, what in (("rep_2", "repeat more (rep-2)"), ("self_bleu", "have a higher self-BLEU")):
        parts = [_chain(table, [nucleus, other], key, "") for other in (greedy, beam)]
        evidence = _chain(table, [greedy, beam, nucleus], key, "").evidence
        checks.append(
            OrderingCheck(
                f"{greedy} and {beam} {what} than {nucleus}",
                all(p.holds for p in parts),
                all(p.separated for p in parts),
                evidence,
            )
        )
    checks.append(
        _chain(
            table,
            [greedy, HUMAN, pure],
            "perplexity",
            f"generated-text perplexity: {greedy} < {HUMAN} < {pure}",
        )  # fmt: skip
    )
    return checks
