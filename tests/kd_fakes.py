"""Small helpers for the KD tests: SoftTargets built directly, a fixed-table engine, a tiny model."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch

from kaldi_kd.kd.soft_targets import SoftTargets


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

    def targets(self, utt_ids: Sequence[str], starts: torch.Tensor, num_frames: int, device, lengths=None) -> SoftTargets:
        V = next(iter(self.table.values())).shape[-1]
        probs = torch.zeros(len(utt_ids), num_frames, V)
        mask = torch.zeros(len(utt_ids), num_frames, dtype=torch.bool)
        for b, (u, s) in enumerate(zip(utt_ids, starts.tolist())):
            q = self.table[u][s : s + num_frames]
            probs[b, : len(q)] = q
            mask[b, : len(q)] = True
            if lengths is not None:
                mask[b, int(lengths[b]) :] = False
        return make_soft_targets(probs.to(device), mask.to(device))


# ---- a tiny HybridModel and a Batch-like object ----------------------------------------
from types import SimpleNamespace

from torch import nn


def make_model(num_layers: int = 4, num_pdfs: int = 9, input_dim: int = 6) -> nn.Module:
    """A small TDNN HybridModel (parameter names encoder.layers.<i-1>.*, head.*, aux_heads.<u>.*)."""
    from kaldi_kd.am.model import HybridModel, ModelConfig

    cfg = ModelConfig(type="tdnn", input_dim=input_dim, num_pdfs=num_pdfs, hidden_dim=8,
                      num_layers=num_layers, dropout=0.0)
    return HybridModel(cfg)


def layer_prefix(i: int) -> str:
    """Parameter-name prefix of encoder layer i (1-based)."""
    return f"encoder.layers.{i - 1}."


def make_batch(B: int = 2, T: int = 12, input_dim: int = 6, num_pdfs: int = 9, seed: int = 0) -> SimpleNamespace:
    """A Batch-like object: feats, lengths, targets (-100 padded), utt_ids, starts, mask."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([T] + [T - 3] * (B - 1))
    feats = torch.randn(B, T, input_dim, generator=g)
    mask = torch.arange(T)[None, :] < lengths[:, None]
    feats = feats * mask.unsqueeze(-1)
    targets = torch.randint(0, num_pdfs, (B, T), generator=g).masked_fill(~mask, -100)
    return SimpleNamespace(feats=feats, lengths=lengths, targets=targets, utt_ids=[f"utt{b}" for b in range(B)],
                           starts=torch.zeros(B, dtype=torch.long), mask=mask)
