"""Small helpers for the KD tests: SoftTargets built directly, a fixed-table engine."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch

try:
    from kaldi_kd.kd.soft_targets import SoftTargets
except ImportError:  # the teachers branch not merged yet
    from dataclasses import dataclass

    @dataclass
    class SoftTargets:  # type: ignore[no-redef]
        probs: Optional[torch.Tensor]
        topk_values: Optional[torch.Tensor]
        topk_indices: Optional[torch.Tensor]
        mask: torch.Tensor


def make_soft_targets(probs: torch.Tensor, mask: Optional[torch.Tensor] = None) -> SoftTargets:
    """Dense SoftTargets for ``probs`` (B, T, V); every frame valid unless ``mask``."""
    if mask is None:
        mask = torch.ones(probs.shape[:2], dtype=torch.bool)
    return SoftTargets(probs=probs, topk_values=None, topk_indices=None, mask=mask)


def topk_soft_targets(probs: torch.Tensor, k: int, mask: Optional[torch.Tensor] = None) -> SoftTargets:
    """Top-k SoftTargets of ``probs`` with renormalised values."""
    if mask is None:
        mask = torch.ones(probs.shape[:2], dtype=torch.bool)
    vals, idx = probs.topk(k, dim=-1)
    return SoftTargets(probs=None, topk_values=vals / vals.sum(-1, keepdim=True), topk_indices=idx, mask=mask)


class TableEngine:
    """A SoftTargetEngine stand-in: fixed per-utterance (T, V) distributions."""

    def __init__(self, table: Dict[str, torch.Tensor]) -> None:
        self.table = table

    def targets(self, utt_ids: Sequence[str], starts: torch.Tensor, num_frames: int, device) -> SoftTargets:
        V = next(iter(self.table.values())).shape[-1]
        probs = torch.zeros(len(utt_ids), num_frames, V)
        mask = torch.zeros(len(utt_ids), num_frames, dtype=torch.bool)
        for b, (u, s) in enumerate(zip(utt_ids, starts.tolist())):
            q = self.table[u][s : s + num_frames]
            probs[b, : len(q)] = q
            mask[b, : len(q)] = True
        return make_soft_targets(probs.to(device), mask.to(device))
