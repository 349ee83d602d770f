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


# ---- a tiny model and batch with the am branch's interface --------------------------
from types import SimpleNamespace
from typing import Dict as _Dict, List, NamedTuple

from torch import nn


class _Output(NamedTuple):
    logits: torch.Tensor
    lengths: torch.Tensor
    layers: List[torch.Tensor]
    aux_logits: _Dict[str, torch.Tensor]


class _Encoder(nn.Module):
    def __init__(self, input_dim: int, hidden: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden] * num_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.layer_dims = dims[1:]

    def forward(self, x, lengths):
        layers = []
        for layer in self.layers:
            x = torch.tanh(layer(x))
            layers.append(x)
        return layers, lengths


class FakeHybridModel(nn.Module):
    """Parameter names as in HybridModel: encoder.layers.<i-1>.*, head.*, aux_heads.<u>.*."""

    def __init__(self, input_dim: int = 6, hidden: int = 8, num_layers: int = 4, num_pdfs: int = 9) -> None:
        super().__init__()
        self.encoder = _Encoder(input_dim, hidden, num_layers)
        self.layer_dims = list(self.encoder.layer_dims)
        self.subsampling = 1
        self.head = nn.Linear(hidden, num_pdfs)
        self.aux_heads = nn.ModuleDict()

    def forward(self, feats, lengths):
        layers, out_lengths = self.encoder(feats, lengths)
        aux = {u: h(layers[h.layer - 1]) for u, h in self.aux_heads.items()}
        return _Output(self.head(layers[-1]), out_lengths, layers, aux)

    def export(self):
        import copy

        heads, self.aux_heads = self.aux_heads, nn.ModuleDict()
        try:
            return copy.deepcopy(self).eval()
        finally:
            self.aux_heads = heads


def make_model(num_layers: int = 4, num_pdfs: int = 9, input_dim: int = 6) -> nn.Module:
    """A small model with HybridModel's interface (the real one when the am branch is merged)."""
    try:
        from kaldi_kd.am.model import HybridModel, ModelConfig
    except ImportError:
        return FakeHybridModel(input_dim, 8, num_layers, num_pdfs)
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
