"""Training data for the hybrid AM: features + frame targets (pdf-ids) in batches.

``Batch`` (the contract other areas code against):

* ``feats (B,T,F)`` float32, padded with zeros; ``lengths (B,)`` valid input frames;
* ``targets (B,T')`` long pdf-ids at the model's output rate (T' = ceil(T/s), frame
  j <-> input frame j*s), -100 where there is no target (padding, chunk context);
* ``utt_ids`` the utterance of each row;
* ``starts (B,)`` long: the utterance output frame of row b's first frame, i.e.
  ``logits[b, j]`` is output frame ``starts[b] + j`` of utterance ``utt_ids[b]``
  (0 for whole utterances; for chunks, the first frame *including* left context);
* ``mask (B,T')`` bool: frames that carry a target (``targets != -100``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch
from torch import Tensor


@dataclass
class Batch:
    feats: Tensor
    lengths: Tensor
    targets: Tensor
    utt_ids: List[str]
    starts: Tensor
    mask: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """The batch with every tensor on ``device``."""
        return Batch(self.feats.to(device, non_blocking=non_blocking),
                     self.lengths.to(device, non_blocking=non_blocking),
                     self.targets.to(device, non_blocking=non_blocking),
                     list(self.utt_ids),
                     self.starts.to(device, non_blocking=non_blocking),
                     self.mask.to(device, non_blocking=non_blocking))

    @property
    def num_target_frames(self) -> int:
        return int(self.mask.sum())

    def pin_memory(self) -> "Batch":
        return Batch(self.feats.pin_memory(), self.lengths.pin_memory(), self.targets.pin_memory(),
                     self.utt_ids, self.starts.pin_memory(), self.mask.pin_memory())
