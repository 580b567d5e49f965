"""Decoding strategies written out: greedy search, beam search, sampling, logits transforms.

Read the files in this order, each top to bottom:

- ``transforms.py``: the logits transforms, pure functions on a ``[batch, vocab]`` tensor:
  temperature, top-k, top-p, the repetition penalty and the n-gram ban;
- ``forward.py``: the model step, one forward pass per new token with a KV cache;
- ``decoders.py``: greedy search, sampling and beam search, each equal to
  ``model.generate`` token for token with the same settings;
- ``settings.py``: every decoding choice in one dataclass, and the same choices as
  ``generate`` arguments and ``generation_config.json``;
- ``generation.py``: the front door from strings to strings (:func:`generate_text`),
  streaming, and what the settings do to one next-token distribution;
- ``checks.py``: one clear error per invalid parameter;
- ``evidence.py``: the numbers behind the degeneration figures (token probabilities along
  a text, the repetition loop, nucleus sizes, temperature cuts, a recorded beam tree).

Everything is importable from here: ``from helpers.decoding import generate_text``.
"""

from helpers.decoding.checks import check_parameters
from helpers.decoding.decoders import (
    beam_search,
    greedy,
    greedy_chooser,
    most_likely,
    sample,
    sampler,
    token_by_token,
    token_steps,
)
from helpers.decoding.evidence import (
    BeamNode,
    TemperatureCut,
    beam_tree,
    nucleus_size,
    nucleus_sizes,
    repetition_loop,
    temperature_cuts,
    token_probabilities,
)
from helpers.decoding.forward import CachedForward
from helpers.decoding.generation import (
    Continuations,
    NextTokenView,
    context_length,
    encode_prompts,
    generate_continuations,
    generate_text,
    next_token_view,
    run_decoder,
    stream_text,
)
from helpers.decoding.settings import (
    STRATEGIES,
    DecodingSettings,
    generate_kwargs,
    ignored_settings,
    make_settings,
    plain_generation_config,
    settings_from_generation_config,
    settings_to_generation_config,
    unsupported_settings,
)
from helpers.decoding.transforms import (
    apply_penalties,
    apply_temperature,
    ban_repeated_ngrams,
    filter_top_k,
    filter_top_p,
    penalize_repetition,
    transform_logits,
)

__all__ = [
    "STRATEGIES",
    "BeamNode",
    "TemperatureCut",
    "beam_tree",
    "nucleus_size",
    "nucleus_sizes",
    "repetition_loop",
    "temperature_cuts",
    "token_probabilities",
    "CachedForward",
    "Continuations",
    "DecodingSettings",
    "NextTokenView",
    "apply_penalties",
    "apply_temperature",
    "ban_repeated_ngrams",
    "beam_search",
    "check_parameters",
    "context_length",
    "encode_prompts",
    "filter_top_k",
    "filter_top_p",
    "generate_continuations",
    "generate_kwargs",
    "ignored_settings",
    "generate_text",
    "greedy",
    "greedy_chooser",
    "make_settings",
    "most_likely",
    "next_token_view",
    "penalize_repetition",
    "run_decoder",
    "sample",
    "sampler",
    "plain_generation_config",
    "settings_from_generation_config",
    "settings_to_generation_config",
    "stream_text",
    "token_by_token",
    "token_steps",
    "transform_logits",
    "unsupported_settings",
]
