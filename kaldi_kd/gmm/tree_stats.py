"""Tree statistics from alignments (Kaldi's ``acc-tree-stats``), vectorised.

For every frame of an alignment the *event* is the phone context window
(``context_width`` phones around the frame's phone instance, 0 beyond the utterance
edge; the context of a context-independent phone, e.g. silence, is set to 0) plus
the pdf-class of the frame's HMM state.  Per distinct event we keep Gaussian
statistics (count, sum x, sum x^2) of the frames' features — the GaussClusterable
statistics Kaldi's tree building works on.

Alignments are split into phone instances as Kaldi's SplitToPhones does for
reordered graphs (the default everywhere): an instance starts with the forward
transition of HMM state 0 (or where the phone changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Tuple

import numpy as np

from kaldi_kd.errors import InputError
from kaldi_kd.gmm.model_io import transition_model_data

PDF_CLASS = -1
VAR_FLOOR = 0.01  # acc-tree-stats / build-tree GaussClusterable variance floor


@dataclass
class TransitionTables:
    """Per transition-id lookups: phone, HMM state, self-loop flag, pdf-class."""

    phone: np.ndarray
    hmm_state: np.ndarray
    self_loop: np.ndarray
    pdf_class: np.ndarray

    @classmethod
    def from_model(cls, trans_model) -> "TransitionTables":
        data = transition_model_data(trans_model)
        n = trans_model.num_transition_ids + 1
        phone = np.zeros(n, np.int64)
        hmm_state = np.zeros(n, np.int64)
        self_loop = np.zeros(n, bool)
        pdf_class = np.zeros(n, np.int64)
        topo = data.topo
        for tid in range(1, n):
            tstate = trans_model.id2state[tid]
            p, s = int(data.tuples[tstate - 1, 0]), int(data.tuples[tstate - 1, 1])
            state = topo.entries[topo.phone2idx[p]][s]
            loop = bool(trans_model.is_self_loop(tid))
            phone[tid], hmm_state[tid], self_loop[tid] = p, s, loop
            pdf_class[tid] = state.self_loop_pdf_class if loop else state.forward_pdf_class
        return cls(phone, hmm_state, self_loop, pdf_class)

    def phone_starts(self, ali: np.ndarray) -> np.ndarray:
        """Boolean (T,): frames where a phone instance starts."""
        ali = np.asarray(ali)
        start = (self.hmm_state[ali] == 0) & ~self.self_loop[ali]
        ph = self.phone[ali]
        start[1:] |= ph[1:] != ph[:-1]
        start[0] = True
        return start


def phone_instances(tables: TransitionTables, ali: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(phones (K,), instance index per frame (T,)) of one alignment."""
    starts = tables.phone_starts(ali)
    inst = np.cumsum(starts) - 1
    return tables.phone[np.asarray(ali)[starts]], inst


def frame_events(tables: TransitionTables, ali: np.ndarray, context_width: int = 3,
                 central_position: int = 1, ci_phones: Sequence[int] = ()) -> np.ndarray:
    """(T, context_width + 1) events: context phones then pdf-class, per frame."""
    ali = np.asarray(ali)
    phones, inst = phone_instances(tables, ali)
    k = len(phones)
    padded = np.concatenate([np.zeros(central_position, np.int64), phones,
                             np.zeros(context_width - 1 - central_position, np.int64)])
    ctx = np.stack([padded[j:j + k] for j in range(context_width)], axis=1)
    if len(ci_phones):
        ci = np.isin(phones, np.asarray(ci_phones))
        keep = ctx[:, central_position].copy()
        ctx[ci] = 0
        ctx[:, central_position] = keep
    return np.concatenate([ctx[inst], tables.pdf_class[ali][:, None]], axis=1)


@dataclass
class TreeStats:
    """Gaussian statistics per distinct event.

    Attributes:
        events: (E, N+1) int: context phones (keys 0..N-1) then pdf-class (key -1).
        count: (E,), x: (E, D), x2: (E, D).
    """

    events: np.ndarray
    count: np.ndarray
    x: np.ndarray
    x2: np.ndarray
    context_width: int = 3
    central_position: int = 1

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def save(self, path) -> None:
        from kaldi_kd.data.atomic import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, events=self.events, count=self.count, x=self.x, x2=self.x2,
                         nc=np.array([self.context_width, self.central_position]))

    @classmethod
    def load(cls, path) -> "TreeStats":
        with np.load(path) as z:
            return cls(z["events"], z["count"], z["x"], z["x2"], int(z["nc"][0]), int(z["nc"][1]))


def _reduce(keys: np.ndarray, feats: np.ndarray, weights: np.ndarray = None):
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    f = feats[order]
    count = np.add.reduceat(np.ones(len(sk)), starts)
    x = np.add.reduceat(f, starts, axis=0)
    x2 = np.add.reduceat(f * f, starts, axis=0)
    return sk[starts], order[starts], count, x, x2


def accumulate_tree_stats(trans_model, items: Iterable[Tuple[np.ndarray, np.ndarray]],
                          context_width: int = 3, central_position: int = 1,
                          ci_phones: Sequence[int] = ()) -> TreeStats:
    """acc-tree-stats over (features (T, D), alignment (T,)) pairs.

    Returns:
        :class:`TreeStats` with one row per distinct event (sorted by event).
    """
    tables = TransitionTables.from_model(trans_model)
    ev_list, feat_list = [], []
    for feats, ali in items:
        if len(feats) != len(ali):
            raise InputError(f"alignment has {len(ali)} frames, features {len(feats)}")
        ev_list.append(frame_events(tables, ali, context_width, central_position, ci_phones))
        feat_list.append(np.asarray(feats, np.float64))
    if not ev_list:
        raise InputError("no alignments to accumulate tree statistics from")
    events = np.concatenate(ev_list)
    feats = np.concatenate(feat_list)
    base = int(max(events[:, :-1].max(), events[:, -1].max())) + 2
    keys = np.zeros(len(events), np.int64)
    for j in range(events.shape[1]):
        keys = keys * base + (events[:, j] + 1)
    _, first, count, x, x2 = _reduce(keys, feats)
    return TreeStats(events[first], count, x, x2, context_width, central_position)


def merge_tree_stats(parts: Sequence[TreeStats]) -> TreeStats:
    """Sum tree statistics of several jobs (sum-tree-stats)."""
    events = np.concatenate([p.events for p in parts])
    base = int(events.max()) + 2
    keys = np.zeros(len(events), np.int64)
    for j in range(events.shape[1]):
        keys = keys * base + (events[:, j] + 1)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])[order]  # noqa: E731
    return TreeStats(events[order][starts], np.add.reduceat(cat("count"), starts),
                     np.add.reduceat(cat("x"), starts, axis=0),
                     np.add.reduceat(cat("x2"), starts, axis=0),
                     parts[0].context_width, parts[0].central_position)


def gauss_objf(count: np.ndarray, x: np.ndarray, x2: np.ndarray,
               var_floor: float = VAR_FLOOR) -> np.ndarray:
    """GaussClusterable::Objf, vectorised over leading axes:
    -0.5 * n * (sum_d log var_d + D (1 + log 2 pi)), var floored; 0 where n <= 0."""
    count = np.asarray(count, np.float64)
    safe = np.where(count > 0, count, 1.0)
    mean = x / safe[..., None]
    var = np.maximum(x2 / safe[..., None] - mean * mean, var_floor)
    dim = x.shape[-1]
    objf = -0.5 * count * (np.log(var).sum(axis=-1) + dim * (1.0 + math.log(2 * math.pi)))
    return np.where(count > 0, objf, 0.0)
