"""Bidirectional LSTM encoder: one ``nn.LSTM`` per layer (so every layer's output is
exposed), packed sequences so padding never enters the recurrence, dropout between
layers.  Layer output dim is ``2 * hidden_dim``.  Subsampling by s keeps every s-th
frame of the first layer's output (a pyramidal BLSTM of one step).
"""

from __future__ import annotations

from typing import List, Tuple

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from kaldi_kd.am.model import ModelConfig, length_mask, output_lengths


class BlstmEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.subsampling = cfg.subsampling
        dims = [cfg.input_dim] + [2 * cfg.hidden_dim] * cfg.num_layers
        self.lstms = nn.ModuleList(
            nn.LSTM(dims[i], cfg.hidden_dim, batch_first=True, bidirectional=True)
            for i in range(cfg.num_layers)
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.layer_dims = dims[1:]

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[List[Tensor], Tensor]:
        outs: List[Tensor] = []
        for i, lstm in enumerate(self.lstms):
            total = x.shape[1]
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            y, _ = lstm(packed)
            x, _ = pad_packed_sequence(y, batch_first=True, total_length=total)
            x = self.drop(x)
            if i == 0 and self.subsampling > 1:
                x = x[:, :: self.subsampling]
                lengths = output_lengths(lengths, self.subsampling)
            x = x * length_mask(lengths, x.shape[1]).unsqueeze(-1)
            outs.append(x)
        return outs, lengths
