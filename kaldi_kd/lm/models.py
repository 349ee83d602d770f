"""Teacher LMs over unit sequences: causal, masked (BERT-style) and one-pass bidirectional.

All three share :class:`UnitLM` (embeddings with special ids after the V real
units, sinusoidal positions, pre-norm Transformer stacks, an output layer over the
V real units only) and implement the :class:`~kaldi_kd.lm.teacher.Teacher`
interface (``segment_logits`` / ``segment_probs``).

- ``causal``: one causal stack over ``[BOS, s_1..s_{K-1}]``; position k sees s_<k.
- ``masked``: a bidirectional stack over the sequence with some positions replaced
  by MASK.  For soft targets every position is masked once: the N sequences are
  replicated K times (row (n, k) has only position k masked) and run in batches.
- ``bidir``: one pass, no leak by construction: a forward causal stack over
  ``[BOS, s_1..s_{K-1}]`` gives h_f(k) from s_<k, a backward causal stack over the
  reversed ``[s_2..s_K, EOS]`` gives h_b(k) from s_>k; logits = MLP([h_f(k); h_b(k)]).
  Token k is never an input to any state that reaches position k's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kaldi_kd.lm.teacher import KINDS


@dataclass
class ModelConfig:
    """Architecture of a teacher LM (every default in one place).

    Attributes:
        kind: "causal" | "masked" | "bidir".
        d_model: hidden size.
        n_heads: attention heads.
        n_layers: Transformer layers per stack.
        d_ff: feed-forward size.
        dropout: dropout in training.
    """

    kind: str = "causal"
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim) sinusoidal position encodings."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


def _stack(cfg: ModelConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, cfg.n_layers, norm=nn.LayerNorm(cfg.d_model), enable_nested_tensor=False)


def _causal_mask(k: int, device: torch.device) -> torch.Tensor:
    return torch.triu(torch.full((k, k), float("-inf"), device=device), diagonal=1)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[n]`` entries along dim 1; padding stays put."""
    k = x.shape[1]
    ar = torch.arange(k, device=x.device)[None, :]
    idx = torch.where(ar < lengths[:, None], lengths[:, None] - 1 - ar, ar)
    if x.dim() == 3:
        idx = idx[:, :, None].expand(-1, -1, x.shape[2])
    return x.gather(1, idx)


class UnitLM(nn.Module):
    """A teacher LM over V units (ids 0..V-1); specials PAD=V, BOS=V+1, EOS=V+2, MASK=V+3."""

    def __init__(self, vocab_size: int, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.kind not in KINDS:
            raise ValueError(f"UnitLM: kind must be one of {KINDS}, got {cfg.kind!r}")
        self.kind = cfg.kind
        self.vocab_size = int(vocab_size)
        self.cfg = cfg
        self.pad_id, self.bos_id, self.eos_id, self.mask_id = (vocab_size + i for i in range(4))
        self.embed = nn.Embedding(vocab_size + 4, cfg.d_model)
        # scaled by sqrt(d) in _embed: unit-size token vectors, comparable to the positions
        nn.init.normal_(self.embed.weight, std=cfg.d_model ** -0.5)
        self.drop = nn.Dropout(cfg.dropout)
        self.fwd = _stack(cfg)
        if cfg.kind == "bidir":
            self.bwd = _stack(cfg)
            self.combine = nn.Sequential(nn.Linear(2 * cfg.d_model, cfg.d_model), nn.GELU(), nn.LayerNorm(cfg.d_model))
        self.out = nn.Linear(cfg.d_model, vocab_size)
        self.masked_chunk_tokens = 1 << 18  # replicated tokens (rows x K) per forward pass in masked scoring

    # ---- building blocks ----------------------------------------------------
    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) * math.sqrt(self.cfg.d_model)
        return self.drop(x + sinusoidal_positions(ids.shape[1], self.cfg.d_model, ids.device))

    def _causal(self, stack: nn.TransformerEncoder, ids: torch.Tensor) -> torch.Tensor:
        k = ids.shape[1]
        return stack(self._embed(ids), mask=_causal_mask(k, ids.device), is_causal=True)

    def _pad(self, units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ar = torch.arange(units.shape[1], device=units.device)[None, :]
        return torch.where(ar < lengths[:, None], units, torch.full_like(units, self.pad_id))

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Training-time logits (N, K, V).

        For causal/bidir ``inputs`` are the units themselves (targets = inputs).
        For masked ``inputs`` already carry MASK ids where positions are hidden.
        """
        units = self._pad(inputs, lengths)
        if self.kind == "masked":
            pad = torch.arange(units.shape[1], device=units.device)[None, :] >= lengths[:, None]
            h = self.fwd(self._embed(units), src_key_padding_mask=pad)
            return self.out(h)
        n = units.shape[0]
        bos = torch.full((n, 1), self.bos_id, dtype=units.dtype, device=units.device)
        h = self._causal(self.fwd, torch.cat([bos, units[:, :-1]], dim=1))
        if self.kind == "causal":
            return self.out(h)
        # backward stream: input at k is s_{k+1} (EOS at the last valid position), reversed.
        nxt = torch.cat([units[:, 1:], units.new_full((n, 1), self.pad_id)], dim=1)
        nxt = nxt.scatter(1, (lengths - 1).clamp(min=0)[:, None], self.eos_id)
        hb = reverse_padded(self._causal(self.bwd, reverse_padded(nxt, lengths)), lengths)
        return self.out(self.combine(torch.cat([h, hb], dim=-1)))

    # ---- Teacher interface ---------------------------------------------------
    @torch.no_grad()
    def segment_logits(self, units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (N, K, V) for every position, context excluding the position itself."""
        units = units.long()
        lengths = lengths.long().to(units.device)
        if self.kind != "masked":
            return self.forward(units, lengths).float()
        return self._masked_all(units, lengths)

    def _masked_all(self, units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n, k = units.shape
        out = units.new_zeros((n, k, self.vocab_size), dtype=torch.float32)
        rows = torch.arange(n * k, device=units.device)
        seq, pos = rows // k, rows % k
        valid = pos < lengths[seq]
        seq, pos = seq[valid], pos[valid]
        chunk = max(1, self.masked_chunk_tokens // max(1, k))
        for c in range(0, seq.numel(), chunk):
            s, p = seq[c : c + chunk], pos[c : c + chunk]
            x = units[s].clone()
            x[torch.arange(len(s), device=x.device), p] = self.mask_id
            logits = self.forward(x, lengths[s])
            out[s, p] = logits[torch.arange(len(s), device=x.device), p].float()
        return out

    @torch.no_grad()
    def segment_probs(self, units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """q_k = softmax(segment_logits), (N, K, V)."""
        return torch.softmax(self.segment_logits(units, lengths), dim=-1)
