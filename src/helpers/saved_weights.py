"""Load a saved model folder, and refuse weights that do not match its ``config.json``.

``from_pretrained`` fills a weight that is missing from the folder, or saved with another
shape, with random numbers and only logs a table; the model then loads as if it were the
one that was saved. Here that is one clear error that names the folder, the weights and
the sizes that differ (read from the safetensors headers), and how to fix it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, PreTrainedModel

from helpers.offline_model import ModelNotAvailableError

OLD_MASK = re.compile(r"(^|\.)attn\.(masked_)?bias$")


class _WithoutLoadReport(logging.Filter):
    """Drops transformers' LOAD REPORT table: :func:`check_weights_match_config` turns what
    it lists into one clear error instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)


def load_saved_model(folder: Path) -> PreTrainedModel:
    """A saved folder's model, or an error when its weights do not match its config.json.

    ``from_pretrained`` fills weights that are missing or of another shape with random ones
    (and only logs a table); here they are an error. ``ignore_mismatched_sizes`` makes a
    shape mismatch come back in the loading info rather than as transformers' own error.
    """
    logger = logging.getLogger("transformers.modeling_utils")
    without_report = _WithoutLoadReport()
    logger.addFilter(without_report)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, ignore_mismatched_sizes=True, output_loading_info=True
        )
    finally:
        logger.removeFilter(without_report)
    check_weights_match_config(folder, model, info)
    return model


def _few(names, shown: int = 3) -> str:
    names = sorted(names)
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _weights(keys, what: str = "") -> str:
    return f"{len(keys)} {what}weight{'' if len(keys) == 1 else 's'}"


def _are(keys) -> str:
    return "is" if len(keys) == 1 else "are"


def _have(keys) -> str:
    return "has" if len(keys) == 1 else "have"


def _shape(shape) -> str:
    return "x".join(str(size) for size in shape)


def _saved_sizes(folder: Path) -> dict[str, int]:
    """GPT-2's sizes as the saved weights give them (layers, width, vocabulary, context),
    read from the safetensors headers; empty when they cannot be read."""
    from safetensors import safe_open

    shapes: dict[str, list[int]] = {}
    try:
        for file in sorted(folder.glob("*.safetensors")):
            with safe_open(file, framework="pt") as weights:
                for key in weights.keys():  # noqa: SIM118 (safe_open is not a dict)
                    shapes[key] = list(weights.get_slice(key).get_shape())
    except (OSError, SafetensorError):
        return {}
    sizes: dict[str, int] = {}
    layers = {int(m.group(1)) for key in shapes if (m := re.search(r"(?:^|\.)h\.(\d+)\.", key))}
    if layers:
        sizes["n_layer"] = max(layers) + 1
    for key, shape in shapes.items():
        if key.endswith("wte.weight") and len(shape) == 2:
            sizes["vocab_size"], sizes["n_embd"] = shape
        elif key.endswith("wpe.weight") and len(shape) == 2:
            sizes["n_positions"] = shape[0]
    return sizes


def check_weights_match_config(folder: Path, model: PreTrainedModel, info: dict) -> None:
    """Weights the config asks for but the folder lacks, of another shape, or saved but
    unused: an error that names the folder, what did not match, and how to fix it.

    A weight tied to one that loaded (GPT-2's lm_head shares wte) is not missing; the
    attention masks older versions saved are not extra weights.
    """
    params = dict(model.named_parameters(remove_duplicate=False))
    missing = set(info.get("missing_keys") or ())
    loaded = {p.data_ptr() for name, p in params.items() if name not in missing}
    missing = {k for k in missing if k not in params or params[k].data_ptr() not in loaded}
    mismatched = sorted(info.get("mismatched_keys") or (), key=lambda entry: entry[0])
    # older transformers saved GPT-2's attention masks (buffers, not weights) with the model
    unexpected = {k for k in info.get("unexpected_keys") or () if not OLD_MASK.search(k)}
    if not (missing or mismatched or unexpected):
        return
    problems = []
    if missing:
        problems.append(
            f"{_weights(missing)} it asks for {_are(missing)} missing ({_few(missing)})"
        )
    if mismatched:
        shown = [
            f"{k} (saved {_shape(saved)}, config {_shape(want)})" for k, saved, want in mismatched
        ]
        problems.append(
            f"{_weights(mismatched, 'saved ')} {_have(mismatched)} another shape ({_few(shown, 2)})"
        )
    if unexpected:
        problems.append(
            f"{_weights(unexpected, 'saved ')} {_have(unexpected)} no place in it "
            f"({_few(unexpected)})"
        )
    saved = _saved_sizes(folder)
    differ = [
        f"{name} {getattr(model.config, name)} in config.json, {size} in the weights"
        for name, size in saved.items()
        if getattr(model.config, name, size) != size
    ]
    sizes = f" ({'; '.join(differ)})" if differ else ""
    raise ModelNotAvailableError(
        f"The weights saved in '{folder}' do not match its config.json{sizes}: "
        f"{'; '.join(problems)}. Loaded anyway, it would not be the model that was saved "
        f"(random weights in place of saved ones). The config.json was edited, or the folder "
        f"mixes the files of two models: copy the folder again, or save the model there "
        f"again (model.save_pretrained, or train it again)."
    )
