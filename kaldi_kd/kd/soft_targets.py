"""Soft targets on the fly: frozen teacher → q per segment → gather to frames.

Per batch the engine looks up each utterance's :class:`~kaldi_kd.units.segments.Segments`,
runs the frozen teacher once on the (padded) K-length unit sequences of the
distinct utterances in the batch (K ≪ T), applies the temperature
(``softmax(logits / tau)``) and optionally keeps the top-k renormalised, and
expands segment distributions to the AM's output frames with one gather by
per-frame segment index.  Output frame t' of a chunk starting at output frame
``start`` covers input frame ``(start + t') * subsampling``; its segment is
``searchsorted(ends, frame, side="right")``.  Only integer indices live on the
host; the dense (B, T', V) tensor exists on the device only.

Caching (optional, ``cache=True``): a teacher is frozen and its input is fixed per
utterance, so q per segment can be kept in CPU memory (fp16, or top-k values and
indices when ``top_k`` is set) after the first epoch and copied to the device
instead of rerunning the teacher.  Exact up to fp16 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from kaldi_kd.errors import InputError
from kaldi_kd.lm.teacher import Teacher
from kaldi_kd.units.segments import WORD_START, Segments


@dataclass
class SoftTargets:
    """Frame-level soft targets for one batch (all tensors on the AM's device).

    Attributes:
        probs: float (B, T', V) distributions; None when top-k is used.
        topk_values: float (B, T', k) renormalised probabilities, or None.
        topk_indices: long (B, T', k) unit ids of ``topk_values``, or None.
        mask: bool (B, T') frames that have a target (inside the utterance's
            segments and inside ``num_frames``); rows where mask is False are 0.
        neg_entropy: float (B, T') sum_v q log q of each frame's target (0 where
            masked), computed once per segment by the engine; None: the loss computes it.
    """

    probs: Optional[torch.Tensor]
    topk_values: Optional[torch.Tensor]
    topk_indices: Optional[torch.Tensor]
    mask: torch.Tensor
    neg_entropy: Optional[torch.Tensor] = None

    def dense(self, vocab_size: int) -> torch.Tensor:
        """(B, T', V) probabilities, scattering top-k back when needed."""
        if self.probs is not None:
            return self.probs
        b, t, _ = self.topk_values.shape
        out = self.topk_values.new_zeros(b, t, vocab_size)
        return out.scatter_(2, self.topk_indices, self.topk_values)


# per utterance: (K, V) probabilities or (K, k) top-k values, (K, k) indices or None, (K,) sum q log q
SegmentTargets = Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]


class SoftTargetEngine:
    """Computes teacher soft targets for AM batches.

    Args:
        teacher: a frozen :class:`~kaldi_kd.lm.teacher.Teacher`; it is moved to the
            device of the first ``targets`` call.
        segments: utterance id → Segments at the teacher's unit level.
        tau: temperature; q = softmax(logits / tau).
        top_k: keep the k most probable units per segment, renormalised (None = all).
        subsampling: the AM's frame subsampling factor.
        cache: keep per-utterance q in CPU memory (fp16 / top-k) after first use.
        max_batch_units: cap on N*K per teacher call (long batches are split).
    """

    def __init__(
        self,
        teacher: Teacher,
        segments: Dict[str, Segments],
        tau: float = 1.0,
        top_k: Optional[int] = None,
        subsampling: int = 1,
        cache: bool = False,
        max_batch_units: int = 65536,
    ) -> None:
        if tau <= 0:
            raise InputError(f"SoftTargetEngine: tau must be > 0, got {tau}")
        if top_k is not None and not 0 < top_k <= teacher.vocab_size:
            raise InputError(f"SoftTargetEngine: top_k={top_k} outside 1..{teacher.vocab_size}")
        if subsampling < 1:
            raise ValueError(f"SoftTargetEngine: subsampling must be >= 1, got {subsampling}")
        self.teacher = teacher
        self.segments = segments
        self.tau = float(tau)
        self.top_k = top_k
        self.subsampling = int(subsampling)
        self.cache = cache
        self.max_batch_units = max_batch_units
        self._cache: Dict[str, SegmentTargets] = {}

    @property
    def vocab_size(self) -> int:
        return self.teacher.vocab_size

    # ---- teacher side -------------------------------------------------------
    def _lookup(self, utt: str) -> Segments:
        try:
            return self.segments[utt]
        except KeyError:
            raise KeyError(f"SoftTargetEngine: no unit segments for utterance {utt}") from None

    def _bounds(self, utts: List[str], kmax: int) -> torch.Tensor:
        """(N, kmax) group codes of the utterances' segments (padding opens words).

        Raises:
            ValueError: naming an utterance whose segments carry no group codes.
        """
        out = torch.full((len(utts), kmax), WORD_START, dtype=torch.long)
        for row, u in enumerate(utts):
            b = self._lookup(u).bounds
            if b is None:
                raise ValueError(f"SoftTargetEngine: utterance {u} has no group codes, which a span-masked teacher "
                                 "needs (rerun steps_py/ali_to_units.py to write bounds.gz)")
            out[row, : len(b)] = torch.from_numpy(b.astype(np.int64))
        return out

    def _run_teacher(self, utts: List[str], device: torch.device) -> List[SegmentTargets]:
        """(q or top-k values, top-k indices or None, sum q log q) per utterance, on ``device``."""
        _to_device(self.teacher, device)
        seqs = [self._lookup(u).units for u in utts]
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        out: List[Optional[SegmentTargets]] = [None] * len(seqs)
        i = 0
        while i < len(order):
            kmax = len(seqs[order[i]])
            n = max(1, self.max_batch_units // max(1, kmax * (kmax if self.teacher.kind == "masked" else 1)))
            group = order[i : i + n]
            i += len(group)
            units = torch.zeros(len(group), kmax, dtype=torch.long)
            lengths = torch.tensor([len(seqs[g]) for g in group], dtype=torch.long)
            for row, g in enumerate(group):
                units[row, : len(seqs[g])] = torch.from_numpy(seqs[g].astype(np.int64))
            bounds = self._bounds([utts[g] for g in group], kmax) if teacher_span(self.teacher) != "none" else None
            with torch.no_grad():
                logits = teacher_logits(self.teacher, units.to(device), lengths.to(device),
                                        None if bounds is None else bounds.to(device))
                log_q = torch.log_softmax(logits.float() / self.tau, dim=-1)
                q = log_q.exp()
                if self.top_k is None:
                    vals, idx, neg_ent = q, None, (q * log_q).sum(-1)
                else:
                    vals, idx = q.topk(self.top_k, dim=-1)
                    vals = vals / vals.sum(-1, keepdim=True)
                    neg_ent = torch.special.xlogy(vals, vals).sum(-1)
                for row, g in enumerate(group):
                    k = len(seqs[g])
                    out[g] = (vals[row, :k], None if idx is None else idx[row, :k], neg_ent[row, :k])
        return out  # type: ignore[return-value]

    def segment_targets(self, utts: List[str], device: torch.device) -> List[SegmentTargets]:
        """Per utterance: segment-level targets (K, V) or top-k (K, k) values and indices,
        and sum q log q per segment (K,), on ``device``."""
        if not self.cache:
            return self._run_teacher(utts, device)
        missing = [u for u in utts if u not in self._cache]
        if missing:
            for u, (v, i, h) in zip(missing, self._run_teacher(missing, device)):
                self._cache[u] = (v.to("cpu", torch.float16), None if i is None else i.to("cpu", torch.int32),
                                  h.to("cpu"))
        res = []
        for u in utts:
            v, i, h = self._cache[u]
            res.append((v.to(device, non_blocking=True).float(), None if i is None else i.to(device).long(),
                        h.to(device)))
        return res

    # ---- frame side ---------------------------------------------------------
    def frame_index(self, utt_ids: Sequence[str], starts: Sequence[int], num_frames: int) -> Tuple[np.ndarray, np.ndarray, List[str]]:
        """Host-side integer work: flat segment index per output frame.

        Returns:
            index int64 (B, T') into the concatenation of the distinct utterances'
            segments (in the returned order), mask bool (B, T'), distinct utterances.
        """
        distinct: List[str] = list(dict.fromkeys(utt_ids))
        offsets: Dict[str, int] = {}
        total = 0
        for u in distinct:
            offsets[u] = total
            total += len(self._lookup(u))
        b = len(utt_ids)
        index = np.zeros((b, num_frames), dtype=np.int64)
        mask = np.zeros((b, num_frames), dtype=bool)
        t_out = np.arange(num_frames, dtype=np.int64)
        for row, (u, s) in enumerate(zip(utt_ids, starts)):
            seg = self._lookup(u)
            frames = (int(s) + t_out) * self.subsampling
            ok = frames < seg.num_frames
            index[row, ok] = offsets[u] + seg.frame_index(frames[ok])
            mask[row] = ok
        return index, mask, distinct

    def targets(
        self,
        utt_ids: Sequence[str],
        starts: Union[Sequence[int], torch.Tensor],
        num_frames: int,
        device: Union[str, torch.device],
        lengths: Optional[Union[Sequence[int], torch.Tensor]] = None,
    ) -> SoftTargets:
        """Soft targets for a batch of (chunks of) utterances.

        Args:
            utt_ids: B utterance ids.
            starts: (B,) first output frame of each chunk within its utterance.
            num_frames: T', the padded number of output frames of the batch.
            device: the AM's device; all outputs live there.
            lengths: optional (B,) valid output frames per row (else all T'
                frames inside the utterance are valid).

        Returns:
            :class:`SoftTargets`; probs rows sum to 1 where ``mask``.
        """
        device = torch.device(device)
        starts_l = [int(x) for x in (starts.tolist() if torch.is_tensor(starts) else starts)]
        index, mask, distinct = self.frame_index(utt_ids, starts_l, int(num_frames))
        if lengths is not None:
            lens = np.asarray(lengths.cpu() if torch.is_tensor(lengths) else lengths)
            mask &= np.arange(num_frames)[None, :] < lens[:, None]
        seg = self.segment_targets(distinct, device)
        index[~mask] = sum(len(v) for v, _, _ in seg)  # masked frames read an all-zero row
        idx_t = torch.from_numpy(index).to(device, non_blocking=True)
        mask_t = torch.from_numpy(mask).to(device, non_blocking=True)
        values = torch.cat([v for v, _, _ in seg] + [seg[0][0].new_zeros(1, seg[0][0].shape[1])], dim=0)
        neg_ent = torch.cat([h for _, _, h in seg] + [seg[0][2].new_zeros(1)])[idx_t]
        if self.top_k is None:
            return SoftTargets(values[idx_t], None, None, mask_t, neg_ent)
        indices = torch.cat([i for _, i, _ in seg] + [seg[0][1].new_zeros(1, self.top_k)], dim=0)[idx_t]
        return SoftTargets(None, values[idx_t], indices, mask_t, neg_ent)


def teacher_span(teacher: Teacher) -> str:
    """What a teacher hides with a predicted unit: "none", "phone" or "word"."""
    return getattr(teacher, "span", "none")


def teacher_logits(teacher: Teacher, units: torch.Tensor, lengths: torch.Tensor,
                   bounds: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``segment_logits`` when the teacher has it, else log ``segment_probs`` (same softmax at any tau).

    ``bounds`` (group codes) are passed only to span-masked teachers.
    """
    extra = {"bounds": bounds} if teacher_span(teacher) != "none" else {}
    fn = getattr(teacher, "segment_logits", None)
    if fn is not None:
        return fn(units, lengths, **extra)
    return torch.log(teacher.segment_probs(units, lengths, **extra).float().clamp_min(1e-30))


def _to_device(teacher: Teacher, device: torch.device) -> None:
    """Move a torch-module teacher to ``device`` once (no-op otherwise)."""
    if isinstance(teacher, torch.nn.Module):
        p = next(teacher.parameters(), None)
        if p is not None and p.device != device:
            teacher.to(device)
