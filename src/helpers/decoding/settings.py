"""Every decoding choice in one place, and the same choices as transformers writes them.

:class:`DecodingSettings` holds them (the CLI builds its flags from its fields, the app
and the playground their controls); :func:`generate_kwargs` says them as arguments of
``model.generate``; :func:`settings_to_generation_config` and
:func:`settings_from_generation_config` convert them to and from the
``generation_config.json`` that ``pipeline`` and the app read.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from helpers.decoding.checks import CHECKS, check_parameters
from helpers.environment import seed_problem

STRATEGIES = ("greedy", "beam", "sample", "top-k", "top-p")
"""Names accepted by :func:`generate_text`: top-k and top-p are sampling with that filter on."""


@dataclass
class DecodingSettings:
    """Every decoding choice in one place; the CLI builds its flags from these fields."""

    strategy: str = field(
        default="greedy", metadata={"help": "how to choose tokens", "choices": STRATEGIES}
    )
    max_new_tokens: int = field(default=40, metadata={"help": "tokens to add to each prompt"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling: divide the logits by this (> 0)"}
    )
    top_k: int = field(default=0, metadata={"help": "sampling: keep the k likeliest (0: off)"})
    top_p: float = field(
        default=1.0, metadata={"help": "sampling: keep the smallest set with mass p (1: off)"}
    )
    repetition_penalty: float = field(
        default=1.0, metadata={"help": "every strategy: > 1 makes tokens already used less likely"}
    )
    no_repeat_ngram_size: int = field(
        default=0, metadata={"help": "every strategy: never repeat an n-gram of this size"}
    )
    num_beams: int = field(default=4, metadata={"help": "beam: hypotheses kept"})
    length_penalty: float = field(
        default=1.0, metadata={"help": "beam: score = log p / length**this"}
    )
    early_stopping: bool = field(
        default=False, metadata={"help": "beam: stop once num_beams hypotheses ended"}
    )
    num_return_sequences: int = field(
        default=1, metadata={"help": "continuations per prompt (beam, sampling)"}
    )
    seed: int | None = field(default=None, metadata={"help": "sampling: random seed"})

    def validate(self) -> None:
        """Raise one clear ValueError for the first setting that cannot work."""
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"Unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}."
            )
        params = {k: v for k, v in asdict(self).items() if k in CHECKS}
        if self.strategy != "beam":
            params.pop("num_beams")
        check_parameters(**params)
        if self.strategy == "top-k" and self.top_k == 0:
            raise ValueError(
                "The top-k strategy needs top_k >= 1 (e.g. 50); use 'sample' for plain sampling."
            )
        if self.strategy == "top-p" and self.top_p == 1.0:
            raise ValueError(
                "The top-p strategy needs top_p < 1 (e.g. 0.9); use 'sample' for plain sampling."
            )
        if self.seed is not None and (problem := seed_problem("seed", self.seed)):
            raise ValueError(f"{problem} Or None: a random seed.")
        if self.strategy == "greedy" and self.num_return_sequences > 1:
            raise ValueError(
                "Greedy search gives one continuation per prompt: set num_return_sequences=1, "
                "or use beam search or sampling for several."
            )

    @property
    def samples(self) -> bool:
        return self.strategy in ("sample", "top-k", "top-p")


SAMPLING_ONLY = ("temperature", "top_k", "top_p", "seed")
BEAM_ONLY = ("num_beams", "length_penalty", "early_stopping")


def ignored_settings(settings: DecodingSettings) -> dict[str, str]:
    """The settings changed from their defaults that ``settings.strategy`` does not use
    (a temperature for greedy search, beams for sampling), each with what uses it."""
    used_by = {
        **({} if settings.samples else dict.fromkeys(SAMPLING_ONLY, "sampling")),
        **({} if settings.strategy == "beam" else dict.fromkeys(BEAM_ONLY, "beam search")),
    }
    default = DecodingSettings()
    return {
        name: use
        for name, use in used_by.items()
        if getattr(settings, name) != getattr(default, name)
    }


def make_settings(settings: DecodingSettings | None = None, **params: Any) -> DecodingSettings:
    """``settings`` (default: the defaults) with ``params`` changed, checked."""
    known = {f.name for f in fields(DecodingSettings)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"Unknown decoding parameter(s) {', '.join(unknown)}: the parameters are "
            f"{', '.join(sorted(known))}."
        )
    settings = replace(settings or DecodingSettings(), **params)
    settings.validate()
    return settings


PENALTIES = ("repetition_penalty", "no_repeat_ngram_size")
"""What ``generate`` applies whatever the strategy (its logits processors)."""


def generate_kwargs(settings: DecodingSettings) -> dict[str, Any]:
    """The same choices as arguments of ``model.generate`` (to compare it with ours).

    For sampling, call ``torch.manual_seed(settings.seed)`` before ``generate``: our
    sampler's seeded generator then draws the same numbers.
    """
    kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens}
    kwargs.update({name: getattr(settings, name) for name in PENALTIES})
    if settings.strategy == "greedy":
        return {**kwargs, "do_sample": False, "num_beams": 1}
    if settings.strategy == "beam":
        names = ("num_beams", "length_penalty", "early_stopping", "num_return_sequences")
        return {**kwargs, "do_sample": False, **{n: getattr(settings, n) for n in names}}
    names = ("temperature", "top_k", "top_p", "num_return_sequences")
    return {**kwargs, "do_sample": True, "num_beams": 1, **{n: getattr(settings, n) for n in names}}


# --------------------------------------------------------------------------------------
# Our settings <-> transformers' GenerationConfig (generation_config.json)
# --------------------------------------------------------------------------------------


def settings_to_generation_config(settings: DecodingSettings, base: Any = None) -> Any:
    """A ``GenerationConfig`` that makes ``generate`` / ``pipeline`` decode as ``settings``.

    ``base`` (e.g. ``model.generation_config``) keeps its special token ids.
    """
    from transformers import GenerationConfig

    config = GenerationConfig.from_dict(base.to_dict()) if base is not None else GenerationConfig()
    kwargs = generate_kwargs(settings)
    kwargs.pop("num_return_sequences", None)
    config.update(**kwargs)
    if not settings.samples:  # keep generate from warning about unused sampling knobs
        config.update(temperature=None, top_k=None, top_p=None)
    return config


def plain_generation_config(**settings: Any) -> Any:
    """A fresh ``GenerationConfig`` with exactly ``settings``, every other decoding choice off.

    ``generate`` takes whatever is not passed from the model's ``generation_config``, which
    ``save_pretrained`` wrote to ``generation_config.json`` (notebook 06 saves the settings
    it chooses there, a repetition penalty among them). To compare our decoders with
    ``generate`` on the same settings, pass it this: greedy, no penalty, no n-gram ban, and
    with ``do_sample=True`` no temperature or filter but the ones given.
    """
    from transformers import GenerationConfig

    plain: dict[str, Any] = dict(
        do_sample=False, num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0
    )
    if settings.get("do_sample"):
        plain.update(temperature=1.0, top_k=0, top_p=1.0)
    return GenerationConfig(**{**plain, **settings})


NOT_IMPLEMENTED: dict[str, tuple[Any, ...]] = {
    "max_length": (None,),  # counts the prompt too: set max_new_tokens instead
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "bad_words_ids": (None,),
    "sequence_bias": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "exponential_decay_length_penalty": (None,),
    "renormalize_logits": (None, False),
    "typical_p": (None, 1.0),
    "min_p": (None,),
    "top_h": (None,),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "stop_strings": (None,),
    "max_time": (None,),
}
"""Settings ``generate`` honours that our decoders do not, with their values that mean off."""


def unsupported_settings(config: Any) -> list[str]:
    """What a ``GenerationConfig`` asks of ``generate`` that our decoders would not do."""
    found = []
    for name, off in NOT_IMPLEMENTED.items():
        value = getattr(config, name, None)
        if name == "max_length" and getattr(config, "max_new_tokens", None) is not None:
            continue  # max_new_tokens wins, in generate too
        if value not in off:
            found.append(f"{name}={value!r}")
    if getattr(config, "do_sample", False) and (getattr(config, "num_beams", None) or 1) > 1:
        found.append(f"do_sample=True with num_beams={config.num_beams} (beam sampling)")
    return found


def settings_from_generation_config(config: Any) -> DecodingSettings:
    """Our :class:`DecodingSettings` for what a ``GenerationConfig`` asks of ``generate``.

    Unset fields take our defaults; the strategy follows ``do_sample``, ``num_beams`` and
    the sampling filter in use. Settings of ``generate`` that our decoders do not implement
    (see :data:`NOT_IMPLEMENTED`) are named in one warning rather than dropped silently.
    """
    defaults = DecodingSettings()

    def value(name: str, default: Any) -> Any:
        found = getattr(config, name, None)
        return default if found is None else found

    dropped = unsupported_settings(config)
    if dropped:
        warnings.warn(
            f"The generation config asks for {', '.join(dropped)}, which these decoders do "
            f"not implement: they decode without it, so `generate` and `pipeline` may give "
            f"other text.",
            stacklevel=2,
        )
    beams = value("num_beams", 1)
    if value("do_sample", False):
        top_k, top_p = value("top_k", 0), value("top_p", 1.0)
        strategy = "top-p" if top_p < 1.0 else "top-k" if top_k > 0 else "sample"
    else:
        strategy, top_k, top_p = ("beam" if beams > 1 else "greedy"), 0, 1.0
    settings = DecodingSettings(
        strategy=strategy,
        max_new_tokens=value("max_new_tokens", defaults.max_new_tokens),
        temperature=value("temperature", 1.0) if strategy not in ("greedy", "beam") else 1.0,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=value("repetition_penalty", 1.0),
        no_repeat_ngram_size=value("no_repeat_ngram_size", 0),
        num_beams=beams if beams > 1 else defaults.num_beams,
        length_penalty=value("length_penalty", 1.0),
        early_stopping=value("early_stopping", False),
    )
    try:
        settings.validate()
    except ValueError as error:  # say where the setting came from: not from the user's flags
        raise ValueError(
            f"The model's generation config (its generation_config.json, which notebook 06 "
            f"saves) asks for a setting that cannot work: {error} Fix that file, or delete it "
            f"to decode with the defaults."
        ) from error
    return settings
