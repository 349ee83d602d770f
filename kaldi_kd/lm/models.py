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

Span masking (``span`` = "phone" or "word"; needs the units' group codes, see
:func:`kaldi_kd.units.segments.group_spans`): every unit of the group (the phone or
the word) that holds position k is hidden too, so q_k comes from the surrounding
phones / words, not from the rest of the answer.

- ``causal``: position k reads the forward state at its group's first unit (which has
  seen only the units before the group);
- ``bidir``: the forward state at the group's first unit and the backward state at its
  last unit;
- both add an embedding of k's offset inside its group (capped at ``max_offset``) and
  mix it with the context states in one MLP, so the units of one word get different
  distributions;
- ``masked``: training masks whole groups; scoring masks one group at a time (one
  replica per group, fewer than per unit).  The number of MASK tokens tells the model
  the group's length (the number of units of the hidden phone or word), nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from kaldi_kd.lm.teacher import KINDS
from kaldi_kd.units.segments import PHONE_START, SPANS, WORD_START


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
        span: "none" | "phone" | "word": what is hidden with the predicted unit (module doc).
        max_offset: offsets inside a group at or past this share one embedding.
    """

    kind: str = "causal"
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    span: str = "none"
    max_offset: int = 32


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


def group_index(bounds: torch.Tensor, lengths: torch.Tensor, span: str) -> "tuple[torch.Tensor, torch.Tensor]":
    """First and last index (N, K) of the group of each position (padding closes the last group).

    The torch twin of :func:`kaldi_kd.units.segments.group_spans`, batched.
    """
    n, k = bounds.shape
    idx = torch.arange(k, device=bounds.device).expand(n, k)
    if span == "none":
        return idx, idx
    past = idx >= lengths[:, None]
    opens = (bounds >= (PHONE_START if span == "phone" else WORD_START)) | past
    opens[:, 0] = True
    first = torch.where(opens, idx, torch.zeros_like(idx)).cummax(dim=1).values
    nxt_opens = torch.cat([opens[:, 1:], opens.new_ones(n, 1)], dim=1)
    nxt = torch.where(nxt_opens, idx, torch.full_like(idx, k))
    last = nxt.flip(1).cummin(dim=1).values.flip(1)
    return first, last


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
        if cfg.span not in SPANS:
            raise ValueError(f"UnitLM: span must be one of {SPANS}, got {cfg.span!r}")
        self.kind = cfg.kind
        self.span = cfg.span
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
        spanned = cfg.span != "none" and cfg.kind != "masked"
        if spanned:
            self.offset = nn.Embedding(cfg.max_offset, cfg.d_model)
        n_in = (2 if cfg.kind == "bidir" else 1) + int(spanned)
        if n_in > 1:
            self.combine = nn.Sequential(nn.Linear(n_in * cfg.d_model, cfg.d_model), nn.GELU(), nn.LayerNorm(cfg.d_model))
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

    def groups(self, bounds: Optional[torch.Tensor], units: torch.Tensor,
               lengths: torch.Tensor) -> "tuple[torch.Tensor, torch.Tensor]":
        """(first, last) index of each position's group under this model's span."""
        if self.span == "none":
            return group_index(units, lengths, "none")
        if bounds is None:
            raise ValueError(f"this {self.kind} teacher hides whole {self.span}s (span={self.span}) and needs the "
                             "units' group codes (bounds.gz from ali_to_units.py / make_unit_corpus.py)")
        if bounds.shape != units.shape:
            raise ValueError(f"group codes {tuple(bounds.shape)} do not match units {tuple(units.shape)}")
        return group_index(bounds.to(units.device), lengths, self.span)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor,
                bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Training-time logits (N, K, V).

        For causal/bidir ``inputs`` are the units themselves (targets = inputs);
        ``bounds`` (N, K) group codes are needed when the model hides whole groups.
        For masked ``inputs`` already carry MASK ids where positions are hidden.
        """
        units = self._pad(inputs, lengths)
        if self.kind == "masked":
            pad = torch.arange(units.shape[1], device=units.device)[None, :] >= lengths[:, None]
            h = self.fwd(self._embed(units), src_key_padding_mask=pad)
            return self.out(h)
        first, last = self.groups(bounds, units, lengths)
        n = units.shape[0]
        bos = torch.full((n, 1), self.bos_id, dtype=units.dtype, device=units.device)
        h = self._causal(self.fwd, torch.cat([bos, units[:, :-1]], dim=1))
        parts = [_take(h, first)]
        if self.kind == "bidir":
            # backward stream: input at k is s_{k+1} (EOS at the last valid position), reversed.
            nxt = torch.cat([units[:, 1:], units.new_full((n, 1), self.pad_id)], dim=1)
            nxt = nxt.scatter(1, (lengths - 1).clamp(min=0)[:, None], self.eos_id)
            hb = reverse_padded(self._causal(self.bwd, reverse_padded(nxt, lengths)), lengths)
            parts.append(_take(hb, last))
        if self.span != "none":
            pos = torch.arange(units.shape[1], device=units.device)[None, :]
            parts.append(self.offset((pos - first).clamp(max=self.cfg.max_offset - 1)))
        return self.out(self.combine(torch.cat(parts, dim=-1)) if len(parts) > 1 else parts[0])

    # ---- Teacher interface ---------------------------------------------------
    @torch.no_grad()
    def segment_logits(self, units: torch.Tensor, lengths: torch.Tensor,
                       bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits (N, K, V) for every position, context excluding the position itself
        (and, with span masking, every unit of its group; ``bounds`` then required)."""
        units = units.long()
        lengths = lengths.long().to(units.device)
        if self.kind != "masked":
            return self.forward(units, lengths, bounds).float()
        return self._masked_all(units, lengths, bounds)

    def _masked_all(self, units: torch.Tensor, lengths: torch.Tensor, bounds: Optional[torch.Tensor]) -> torch.Tensor:
        """One replica per (sequence, group) with that group masked; each position read once."""
        n, k = units.shape
        out = units.new_zeros((n, k, self.vocab_size), dtype=torch.float32)
        first, _ = self.groups(bounds, units, lengths)
        valid = torch.arange(k, device=units.device)[None, :] < lengths[:, None]
        seq, start = ((first == torch.arange(k, device=units.device)[None, :]) & valid).nonzero(as_tuple=True)
        chunk = max(1, self.masked_chunk_tokens // max(1, k))
        for c in range(0, seq.numel(), chunk):
            s, g = seq[c : c + chunk], start[c : c + chunk]
            hide = (first[s] == g[:, None]) & valid[s]
            logits = self.forward(units[s].masked_fill(hide, self.mask_id), lengths[s])
            rows, pos = hide.nonzero(as_tuple=True)
            out[s[rows], pos] = logits[rows, pos].float()
        return out

    @torch.no_grad()
    def segment_probs(self, units: torch.Tensor, lengths: torch.Tensor,
                      bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """q_k = softmax(segment_logits), (N, K, V)."""
        return torch.softmax(self.segment_logits(units, lengths, bounds), dim=-1)


def _take(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """h[n, index[n, k]] for every (n, k): (N, K, D)."""
    return h.gather(1, index[:, :, None].expand(-1, -1, h.shape[2]))
