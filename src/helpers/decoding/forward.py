"""The model step every decoder takes: one forward pass per new token, with a KV cache.

:class:`CachedForward` turns growing sequences into next-token logits, computing each
position once; :func:`special_ids` and :func:`check_batch` are the checks and defaults the
decoders share (end-of-text and padding ids, a left-padded batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # transformers is imported where it is used: `python -m helpers` stays quick
    from transformers import PreTrainedModel


class CachedForward:
    """Next-token logits for growing sequences, computing each position only once.

    The first call runs the whole (left-padded) prompt and fills a ``DynamicCache`` with
    every layer's keys and values; each later call feeds only the newest token and lets
    attention read the earlier positions from the cache. Positions count real tokens only
    (padding gets position 0), so a padded prompt sees the same positions as unpadded.
    With ``use_cache=False`` every call recomputes the whole sequence (for comparison).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        attention_mask: torch.Tensor | None,
        batch_size: int,
        prompt_length: int,
        use_cache: bool = True,
    ) -> None:
        from transformers import DynamicCache

        device = model.device
        if attention_mask is None:
            attention_mask = torch.ones(batch_size, prompt_length, dtype=torch.long, device=device)
        self.model = model
        self.mask = attention_mask.to(device)
        positions = self.mask.long().cumsum(-1) - 1
        self.positions = positions.masked_fill(self.mask == 0, 0)
        # an all-ones mask carries no information; generate drops it too (a faster path)
        self.needs_mask = not bool((self.mask == 1).all())
        self.cache = DynamicCache(config=model.config) if use_cache else None
        self.seen = 0  # how many positions the cache holds

    @torch.no_grad()
    def __call__(self, sequences: torch.Tensor) -> torch.Tensor:
        """Logits ``[rows, vocab]`` (float32) for the token after ``sequences`` ``[rows, t]``."""
        grow = sequences.shape[1] - self.positions.shape[1]
        if grow > 0:  # one more real token per row since the last call
            step = torch.arange(1, grow + 1, device=self.positions.device)
            self.positions = torch.cat([self.positions, self.positions[:, -1:] + step], dim=-1)
            self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], grow)], -1)
        new = sequences[:, self.seen :] if self.cache is not None else sequences
        output = self.model(
            input_ids=new.to(self.model.device),
            attention_mask=self.mask if self.needs_mask else None,
            position_ids=self.positions[:, -new.shape[1] :],
            cache=self.cache,
            use_cache=self.cache is not None,
            logits_to_keep=1,  # only the last position's logits are needed
        )
        if self.cache is not None:
            self.seen = sequences.shape[1]
        return output.logits[:, -1].to(dtype=torch.float32, device=sequences.device)

    def reorder(self, rows: torch.Tensor) -> None:
        """Make row ``r`` continue from old row ``rows[r]`` (beam search swaps beams)."""
        if self.cache is not None:
            self.cache.reorder_cache(rows.to(self.model.device))
        self.mask, self.positions = self.mask[rows], self.positions[rows]


def special_ids(
    model: PreTrainedModel, eos_token_id: int | Sequence[int] | None, pad_token_id: int | None
) -> tuple[torch.Tensor | None, int | None]:
    """End-of-text ids (the model's when not given, like generate) and the padding id."""
    if eos_token_id is None:
        eos_token_id = model.generation_config.eos_token_id
    if eos_token_id is None:
        return None, pad_token_id
    ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    if not ids:
        return None, pad_token_id
    eos = torch.tensor(ids, dtype=torch.long)
    if pad_token_id is None:
        pad_token_id = model.generation_config.pad_token_id
    return eos, int(eos[0]) if pad_token_id is None else pad_token_id


def check_batch(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise ValueError(
            f"input_ids must be a [batch, length] tensor with length >= 1 (got shape "
            f"{tuple(input_ids.shape)}); start an empty prompt from the <|endoftext|> token."
        )
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
            f"{tuple(input_ids.shape)}: give one mask value per token."
        )
    if attention_mask is not None and bool((attention_mask[:, -1] == 0).any()):
        raise ValueError(
            "Padding found at the end of a prompt: decoder-only models need LEFT padding "
            "(tokenizer.padding_side = 'left'), so that every prompt ends at the last column."
        )
