"""A small Conformer encoder (Gulati et al. 2020).

Front-end: a 3-tap convolution from the features to ``hidden_dim`` + ReLU, keeping
every s-th frame when subsampling, plus sinusoidal absolute positions.  Each block:
half feed-forward, multi-head self-attention (padded keys masked), convolution module
(pointwise + GLU, depthwise conv with padded frames zeroed, LayerNorm, SiLU,
pointwise), half feed-forward, final LayerNorm.  Every block is one "layer".
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import Tensor, nn

from kaldi_kd.am.model import ModelConfig, length_mask, output_lengths


def sinusoidal_positions(n: int, dim: int, device: torch.device) -> Tensor:
    """(n, dim) sinusoidal position encodings."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                    * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mult * dim), nn.SiLU(),
                                 nn.Dropout(dropout), nn.Linear(mult * dim, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Conv1d(dim, 2 * dim, 1)
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.pw2 = nn.Conv1d(dim, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.pw1(self.norm(x).transpose(1, 2))
        h = nn.functional.glu(h, dim=1) * mask.transpose(1, 2)
        h = self.dw(h).transpose(1, 2)
        h = nn.functional.silu(self.norm2(h))
        return self.drop(self.pw2(h.transpose(1, 2)).transpose(1, 2))


class ConformerBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.hidden_dim
        self.ff1 = FeedForward(d, cfg.ff_mult, cfg.dropout)
        self.att_norm = nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout, batch_first=True)
        self.att_drop = nn.Dropout(cfg.dropout)
        self.conv = ConvModule(d, cfg.conv_kernel, cfg.dropout)
        self.ff2 = FeedForward(d, cfg.ff_mult, cfg.dropout)
        self.out_norm = nn.LayerNorm(d)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B,T,D); mask (B,T,1) float, 1 on valid frames."""
        x = x + 0.5 * self.ff1(x)
        h = self.att_norm(x)
        h, _ = self.att(h, h, h, key_padding_mask=mask[..., 0] == 0, need_weights=False)
        x = x + self.att_drop(h)
        x = x + self.conv(x, mask)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x) * mask


class ConformerEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.subsampling = cfg.subsampling
        self.dim = cfg.hidden_dim
        self.front = nn.Conv1d(cfg.input_dim, cfg.hidden_dim, 3, padding=1)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.num_layers))
        self.layer_dims = [cfg.hidden_dim] * cfg.num_layers

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[List[Tensor], Tensor]:
        x = x * length_mask(lengths, x.shape[1]).unsqueeze(-1)
        x = torch.relu(self.front(x.transpose(1, 2))).transpose(1, 2)
        if self.subsampling > 1:
            x = x[:, :: self.subsampling]
            lengths = output_lengths(lengths, self.subsampling)
        mask = length_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)
        x = self.drop(x * math.sqrt(self.dim) / 4 + sinusoidal_positions(x.shape[1], self.dim, x.device)) * mask
        outs: List[Tensor] = []
        for block in self.blocks:
            x = block(x, mask)
            outs.append(x)
        return outs, lengths
