"""TDNN and factorised TDNN (TDNN-F) encoders.

A TDNN layer is a dilated 3-tap 1-D convolution (Kaldi's ``Append(-d,0,d)`` + affine)
followed by ReLU, a per-frame LayerNorm (batch-independent, unlike Kaldi's batchnorm,
so padding never leaks into statistics) and dropout.  A TDNN-F layer (Povey et al.
2018) factorises the affine map through a bottleneck: a 2-tap ``(t-d, t)`` linear map
to ``bottleneck_dim`` whose weight is kept semi-orthogonal (:meth:`TdnnEncoder.constrain`),
then a 2-tap ``(t, t+d)`` affine map back, ReLU, LayerNorm, dropout, plus a bypass
``0.66 * x``.  The first layer of either kind is a plain TDNN layer from the input.
Subsampling by s keeps every s-th frame of the first layer's output.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kaldi_kd.am.model import ModelConfig, length_mask, output_lengths


class TdnnLayer(nn.Module):
    """Dilated conv (3 taps, or 1 tap when dilation is 0) -> ReLU -> LayerNorm -> dropout."""

    def __init__(self, in_dim: int, out_dim: int, dilation: int, dropout: float):
        super().__init__()
        if dilation > 0:
            self.conv = nn.Conv1d(in_dim, out_dim, 3, dilation=dilation, padding=dilation)
        else:
            self.conv = nn.Conv1d(in_dim, out_dim, 1)
        self.norm = nn.LayerNorm(out_dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: (B, T, D_in), mask (B, T, 1) -> (B, T, D_out)."""
        y = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.drop(self.norm(y))


class TdnnfLayer(nn.Module):
    """Factorised TDNN layer with a semi-orthogonal first factor and a bypass."""

    def __init__(self, dim: int, bottleneck: int, dilation: int, dropout: float,
                 bypass_scale: float = 0.66):
        super().__init__()
        self.dilation = dilation
        taps = 2 if dilation > 0 else 1
        self.factor1 = nn.Conv1d(dim, bottleneck, taps, dilation=max(dilation, 1), bias=False)
        self.factor2 = nn.Conv1d(bottleneck, dim, taps, dilation=max(dilation, 1))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.bypass_scale = bypass_scale

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        d = self.dilation
        h = x.transpose(1, 2)
        h = self.factor1(F.pad(h, (d, 0)) if d else h)          # taps t-d, t
        h = h * mask.transpose(1, 2)                            # padding stays zero
        h = self.factor2(F.pad(h, (0, d)) if d else h)          # taps t, t+d
        y = self.drop(self.norm(torch.relu(h.transpose(1, 2))))
        return y + self.bypass_scale * x

    @torch.no_grad()
    def constrain(self, update_speed: float = 0.125) -> None:
        """One step of Kaldi's semi-orthogonal constraint (floating scale) on factor1."""
        w = self.factor1.weight
        m = w.reshape(w.shape[0], -1).float()               # (bottleneck, dim*taps), rows <= cols
        p = m @ m.t()
        trace_p = p.trace()
        trace_pp = (p * p).sum()
        if trace_p <= 0:
            return
        scale2 = trace_pp / trace_p
        p = p - scale2 * torch.eye(p.shape[0], device=p.device)
        m = m - (4.0 * update_speed / scale2) * (p @ m)
        w.copy_(m.reshape(w.shape).to(w.dtype))


class TdnnEncoder(nn.Module):
    """TDNN ("tdnn") or TDNN-F ("tdnnf") stack; ``forward(x, lengths) -> (layers, out_lengths)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ctx = list(cfg.tdnn_context) or [1]
        dils = [int(ctx[i % len(ctx)]) for i in range(cfg.num_layers)]
        self.subsampling = cfg.subsampling
        self.semi_orthogonal = cfg.type == "tdnnf" and cfg.semi_orthogonal
        layers: List[nn.Module] = [TdnnLayer(cfg.input_dim, cfg.hidden_dim, dils[0], cfg.dropout)]
        for d in dils[1:]:
            if cfg.type == "tdnnf":
                layers.append(TdnnfLayer(cfg.hidden_dim, cfg.bottleneck_dim, d, cfg.dropout))
            else:
                layers.append(TdnnLayer(cfg.hidden_dim, cfg.hidden_dim, d, cfg.dropout))
        self.layers = nn.ModuleList(layers)
        self.layer_dims = [cfg.hidden_dim] * cfg.num_layers

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[List[Tensor], Tensor]:
        mask = length_mask(lengths, x.shape[1]).unsqueeze(-1)
        x = x * mask
        outs: List[Tensor] = []
        for i, layer in enumerate(self.layers):
            x = layer(x, mask)
            if i == 0 and self.subsampling > 1:
                x = x[:, :: self.subsampling]
                lengths = output_lengths(lengths, self.subsampling)
                mask = length_mask(lengths, x.shape[1]).unsqueeze(-1)
            x = x * mask
            outs.append(x)
        return outs, lengths

    def constrain(self) -> None:
        if self.semi_orthogonal:
            for layer in self.layers:
                if isinstance(layer, TdnnfLayer):
                    layer.constrain()
