r"""Training from scratch on the tokens a corpus uses: an exact shortcut for the output layer.

A model trained from random weights on one corpus (Tiny Shakespeare uses about 11,000 of
GPT-2's 50,257 tokens) spends most of each step on the output layer: a softmax over
every token, although tens of thousands of them never occur in the training text. Their
only lesson is "less likely", and they all learn it alike.

So let them be alike. Split the vocabulary into the used tokens :math:`V` and the
unused ones :math:`U`, and give every unused token the same output row :math:`w_U`.
Then for a final hidden state :math:`h` the softmax's normaliser is

.. math:: Z = \sum_{j \in V} e^{w_j \cdot h} + |U|\, e^{w_U \cdot h}
            = \sum_{j \in V} e^{w_j \cdot h} + e^{w_U \cdot h + \log |U|},

a softmax over :math:`|V| + 1` logits, the last one shifted by :math:`\log |U|`.
Training computes just these (:attr:`UsedVocabulary.restricted_rows`), a few times
fewer than 50,257, and after every optimizer step copies :math:`w_U` back into every unused row
(:meth:`UsedVocabulary.tie_unused`). The model stays a full GPT-2: scored with its whole
output layer, it gives exactly the probabilities that training optimised, and a token
the training text never used gets :math:`e^{w_U \cdot h} / Z`, a fair share of what the
model keeps for the unknown. nanoGPT's character-level models do the same in spirit:
their vocabulary is the characters of the text.

How much should the model keep for the unknown? Trained on the text alone, nothing: no
training token is unused, so every step pushes :math:`w_U` down, and a token the
validation text uses for the first time (6 % of Botchan's, a short novel) costs 17 nats
or more. Good and Turing's estimate answers instead: the chance that the next token is
one never seen before is about the share of the text's tokens that it contains exactly
once, :math:`\varepsilon = N_1 / N` (:attr:`UsedVocabulary.unseen_mass`). Training aims
at that: its target puts :math:`1 - \varepsilon` on the true token and :math:`\varepsilon`
on the shared row, a label smoothing aimed only at the tokens the text never used.

Only for weights that start random: a pretrained model's unused rows know things, and
tying them would erase it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class UsedVocabulary:
    """The tokens a training set uses (``used``) and the rest (``unused``, sharing one row)."""

    used: torch.Tensor  # token ids, ascending
    unused: torch.Tensor  # token ids, ascending; unused[0] holds the shared row
    lookup: torch.Tensor  # token id -> its row among restricted_rows
    unseen_mass: float = 0.0  # the target's share for the shared row (Good-Turing N1 / N)

    @classmethod
    def from_tokens(cls, token_ids: torch.Tensor, vocab_size: int) -> UsedVocabulary | None:
        """The vocabulary of ``token_ids`` (any shape); None if it uses every token.

        ``unseen_mass`` is Good and Turing's estimate of how often a new token comes next:
        the share of ``token_ids`` whose token occurs exactly once among them."""
        flat = token_ids.reshape(-1).clamp(0, vocab_size - 1).cpu()
        counts = torch.bincount(flat, minlength=vocab_size)
        present = counts > 0
        used, unused = present.nonzero().squeeze(1), (~present).nonzero().squeeze(1)
        if len(unused) == 0:
            return None
        lookup = torch.full((vocab_size,), len(used), dtype=torch.long)  # unused: the shared row
        lookup[used] = torch.arange(len(used))
        seen_once = int((counts == 1).sum())
        return cls(used, unused, lookup, unseen_mass=seen_once / max(len(flat), 1))

    @property
    def rows(self) -> int:
        """Rows of the restricted output layer: the used tokens and one shared row."""
        return len(self.used) + 1

    def to(self, device: torch.device) -> UsedVocabulary:
        return UsedVocabulary(
            self.used.to(device), self.unused.to(device), self.lookup.to(device), self.unseen_mass
        )

    def __post_init__(self) -> None:
        # built once, used by every training step: the full layer's rows that training
        # computes (the used tokens', then the shared one), and each one's logit offset
        # (0, and log |U| for the shared row, which stands for |U| tokens)
        self.restricted_rows = torch.cat([self.used, self.unused[:1]])
        self.offset = torch.zeros(self.rows, dtype=torch.float32, device=self.used.device)
        self.offset[-1] = math.log(len(self.unused))

    def map_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels as rows of the restricted layer (-100, not scored, stays -100)."""
        return torch.where(labels == -100, labels, self.lookup[labels.clamp(min=0)])

    @torch.no_grad()
    def tie_unused(self, weight: torch.Tensor) -> None:
        """Copy the shared row into every unused row of the full ``weight``."""
        weight[self.unused] = weight[self.unused[0]].clone()
