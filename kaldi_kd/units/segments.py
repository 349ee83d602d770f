"""Segment sequences: a unit sequence with a frame span per unit.

A :class:`Segments` is what every unit level (senone, monophone, subword) gives
per utterance: ``units[k]`` is the k-th unit occurrence and ``ends[k]`` the
exclusive end frame of its span at the *input* frame rate, so segment k covers
frames ``[ends[k-1], ends[k])`` (``ends[-1]`` for k = 0 is 0).  Consecutive frames
of the same unit occurrence form one segment; two consecutive occurrences of the
same unit (e.g. the same senone in two phone instances) stay two segments.

Optional ``bounds[k]`` say which groups unit k opens (:data:`CONTINUES`,
:data:`PHONE_START`, :data:`WORD_START`): span-masked teachers hide a whole phone or
word when they predict one of its units (:func:`group_spans`).  A silence is a word
of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

CONTINUES, PHONE_START, WORD_START = 0, 1, 2
SPANS = ("none", "phone", "word")


@dataclass(frozen=True)
class Segments:
    """Units and exclusive end frames of one utterance at one unit level.

    Attributes:
        units: int32 (K,) unit ids in the level's vocabulary.
        ends: int32 (K,) strictly increasing exclusive end frames; ``ends[-1]`` = T.
        bounds: int8 (K,) group codes (module doc), or None when unknown.
    """

    units: np.ndarray
    ends: np.ndarray
    bounds: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        units = np.ascontiguousarray(self.units, dtype=np.int32)
        ends = np.ascontiguousarray(self.ends, dtype=np.int32)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "ends", ends)
        if units.ndim != 1 or units.shape != ends.shape:
            raise ValueError(f"Segments: units {units.shape} and ends {ends.shape} differ")
        if self.bounds is not None:
            b = np.ascontiguousarray(self.bounds, dtype=np.int8)
            object.__setattr__(self, "bounds", b)
            check_bounds(b, len(units), "Segments")
        if len(ends) and (ends[0] <= 0 or np.any(np.diff(ends) <= 0)):
            raise ValueError("Segments: ends must be positive and strictly increasing")

    def __len__(self) -> int:
        return int(self.units.shape[0])

    @property
    def num_frames(self) -> int:
        """T, the number of input frames covered."""
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def starts(self) -> np.ndarray:
        """int32 (K,) inclusive start frame of each segment."""
        return np.concatenate([[0], self.ends[:-1]]).astype(np.int32)

    def frame_index(self, frames: np.ndarray) -> np.ndarray:
        """Segment index of each given input frame (frames must be < num_frames)."""
        return np.searchsorted(self.ends, frames, side="right").astype(np.int64)

    def to_frames(self) -> np.ndarray:
        """int32 (T,) per-frame unit ids (the inverse of :func:`from_frames`)."""
        return np.repeat(self.units, np.diff(self.ends, prepend=0))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Segments)
            and np.array_equal(self.units, other.units)
            and np.array_equal(self.ends, other.ends)
            and (self.bounds is None) == (other.bounds is None)
            and (self.bounds is None or np.array_equal(self.bounds, other.bounds))
        )


def check_bounds(bounds: np.ndarray, length: int, where: str) -> None:
    """Raise ValueError (prefixed by ``where``) unless ``bounds`` are K codes 0..2 opening a word."""
    if bounds.shape != (length,):
        raise ValueError(f"{where}: {bounds.shape[0] if bounds.ndim == 1 else bounds.shape} bounds for {length} units")
    if length and (bounds.min() < CONTINUES or bounds.max() > WORD_START or bounds[0] != WORD_START):
        raise ValueError(f"{where}: bounds must be 0/1/2 and start with 2 (a word)")


def group_spans(bounds: np.ndarray, span: str) -> Tuple[np.ndarray, np.ndarray]:
    """First and last index of the group each unit belongs to.

    Args:
        bounds: (K,) group codes.
        span: "none" (every unit its own group), "phone" or "word".

    Returns:
        int64 (K,) first and (K,) last unit index of each unit's group.
    """
    k = len(bounds)
    idx = np.arange(k, dtype=np.int64)
    if span == "none":
        return idx, idx.copy()
    if span not in SPANS:
        raise ValueError(f"span must be one of {SPANS}, got {span!r}")
    opens = np.asarray(bounds) >= (PHONE_START if span == "phone" else WORD_START)
    if k:
        opens[0] = True
    first = np.maximum.accumulate(np.where(opens, idx, 0))
    nxt = np.where(np.append(opens[1:], True), idx, k)  # unit i is a group's last when i+1 opens one
    last = np.minimum.accumulate(nxt[::-1])[::-1]
    return first, last


def from_frames(frame_units: Sequence[int], boundaries: Iterable[bool] = ()) -> Segments:
    """Merge runs of equal per-frame units into segments.

    Args:
        frame_units: (T,) unit id per frame.
        boundaries: optional (T,) bools; True at frame t forces a new segment to
            start at t even when the unit equals frame t-1's (a new occurrence).

    Returns:
        The :class:`Segments` whose ``to_frames()`` equals ``frame_units``.
    """
    u = np.asarray(frame_units, dtype=np.int32)
    if u.size == 0:
        return Segments(np.zeros(0, np.int32), np.zeros(0, np.int32))
    new = np.ones(u.shape, dtype=bool)
    new[1:] = u[1:] != u[:-1]
    b = np.asarray(list(boundaries), dtype=bool)
    if b.size:
        if b.shape != u.shape:
            raise ValueError(f"from_frames: boundaries {b.shape} vs units {u.shape}")
        new |= b
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], u.size)
    return Segments(u[starts], ends)


def from_spans(spans: Sequence[Tuple[int, int, int]]) -> Segments:
    """Segments from (unit, start, end) triples that tile [0, T) in order."""
    units: List[int] = []
    ends: List[int] = []
    prev = 0
    for unit, start, end in spans:
        if start != prev or end <= start:
            raise ValueError(f"from_spans: span ({unit},{start},{end}) does not follow frame {prev}")
        units.append(unit)
        ends.append(end)
        prev = end
    return Segments(np.array(units, np.int32), np.array(ends, np.int32))
