"""Training objectives: the pluggable ``Objective`` protocol and cross-entropy.

An objective is called as ``objective(model, batch) -> (loss, stats)``: it runs the
model itself (so it can read ``layers``/``aux_logits``), returns a scalar loss to
back-propagate and a dict of floats that the training loop logs (every key, averaged
over the logging interval).  An objective may own modules and state of its own
(frozen teachers, soft-target engines); the loop moves an ``nn.Module`` objective to
the device but optimises only the *model's* parameters.
"""

from __future__ import annotations

from typing import Dict, Protocol, Tuple, runtime_checkable

import torch.nn.functional as F
from torch import Tensor, nn

from kaldi_kd.am.data import Batch


@runtime_checkable
class Objective(Protocol):
    def __call__(self, model: nn.Module, batch: Batch) -> Tuple[Tensor, Dict[str, float]]:
        ...


def frame_ce(logits: Tensor, targets: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Summed CE, number of target frames and number of correct frames.

    Args:
        logits: (B, T', P); targets: (B, T') long, -100 where there is no target.
    Returns:
        (ce_sum, num_frames, num_correct) as 0-d tensors; ce in float32.
    """
    t = targets.shape[1]
    logits = logits[:, :t].float()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                         ignore_index=-100, reduction="sum")
    valid = targets != -100
    correct = ((logits.argmax(-1) == targets) & valid).sum()
    return ce, valid.sum(), correct


class CEObjective(nn.Module):
    """Frame cross-entropy of the main head against the alignment (mean over target frames).

    Stats: ``loss``, ``ce``, ``frame_acc``, ``frames``.
    """

    def forward(self, model: nn.Module, batch: Batch) -> Tuple[Tensor, Dict[str, float]]:
        out = model(batch.feats, batch.lengths)
        ce, n, correct = frame_ce(out.logits, batch.targets)
        n_f = n.clamp(min=1).float()
        loss = ce / n_f
        stats = {"loss": loss.item(), "ce": loss.item(),
                 "frame_acc": (correct.float() / n_f).item(), "frames": float(n.item())}
        return loss, stats
