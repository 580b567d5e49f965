"""MAUVE (Pillutla et al., 2021): how close generated text is to human text, as distributions.

Both sets of texts are embedded by a feature model (a GPT-2), the embeddings are
clustered together (k-means), and each set becomes a histogram over the clusters, P
(human) and Q (model). MAUVE is the area under the divergence curve of the mixtures
:math:`R_\\lambda = \\lambda P + (1 - \\lambda) Q`,

.. math::

    \\big(e^{-c\\,\\mathrm{KL}(Q \\| R_\\lambda)},\\;
          e^{-c\\,\\mathrm{KL}(P \\| R_\\lambda)}\\big), \\quad \\lambda \\in (0, 1),

between 0 (nothing alike) and 1 (the same distribution). It needs the ``mauve-text``
package and its feature model from the Hub, so it runs on Colab, not offline; with few
texts (the paper uses thousands) it is noisy: compare decoders on the same texts only.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence

DEFAULT_FEATURE_MODEL = "gpt2"  # the paper's default is gpt2-large: better, ~6x slower
PACKAGE = "mauve-text"


class MauveUnavailable(RuntimeError):
    """MAUVE cannot run here; the message says why and what would make it run."""


def mauve_available() -> tuple[bool, str]:
    """Can :func:`mauve_against_human` run here? ``(answer, a sentence saying why)``."""
    if importlib.util.find_spec("mauve") is None:
        return False, f"the {PACKAGE} package is not installed (`pip install {PACKAGE}`)"
    from helpers.environment import is_online

    if not is_online():
        return False, "the Hub is out of reach, so MAUVE's feature model cannot be downloaded"
    return True, f"{PACKAGE} is installed and the Hub answers"


def install_mauve() -> bool:
    """``pip install mauve-text`` into this Python, quietly; True when it worked."""
    if importlib.util.find_spec("mauve") is not None:
        return True
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", PACKAGE], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"pip could not install {PACKAGE}: {done.stderr.strip()[-500:]}")
    importlib.invalidate_caches()
    return done.returncode == 0 and importlib.util.find_spec("mauve") is not None


def mauve_against_human(
    generated: Sequence[str],
    human: Sequence[str],
    feature_model: str = DEFAULT_FEATURE_MODEL,
    device_id: int = -1,
    max_text_length: int = 256,
    seed: int = 25,
) -> float:
    """MAUVE of ``generated`` against ``human`` texts (0 to 1, higher is closer).

    ``device_id`` -1 is the CPU, 0 the first GPU. Raises :class:`MauveUnavailable` with
    the reason when the package or the Hub is missing.
    """
    if isinstance(generated, str) or isinstance(human, str):
        raise ValueError("Pass lists of texts, e.g. [text], not single strings.")
    if len(generated) < 2 or len(human) < 2:
        raise ValueError(
            f"MAUVE compares two sets of texts and needs at least 2 in each; got "
            f"{len(generated)} generated and {len(human)} human."
        )
    ok, why = mauve_available()
    if not ok:
        raise MauveUnavailable(f"MAUVE cannot run here: {why}.")
    import mauve

    result = mauve.compute_mauve(
        p_text=list(human),
        q_text=list(generated),
        featurize_model_name=feature_model,
        device_id=device_id,
        max_text_length=max_text_length,
        verbose=False,
        seed=seed,
    )
    return float(result.mauve)
