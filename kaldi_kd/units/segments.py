"""Segment sequences: a unit sequence with a frame span per unit.

A :class:`Segments` is what every unit level (senone, monophone, subword) gives
per utterance: ``units[k]`` is the k-th unit occurrence and ``ends[k]`` the
exclusive end frame of its span at the *input* frame rate, so segment k covers
frames ``[ends[k-1], ends[k])`` (``ends[-1]`` for k = 0 is 0).  Consecutive frames
of the same unit occurrence form one segment; two consecutive occurrences of the
same unit (e.g. the same senone in two phone instances) stay two segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class Segments:
    """Units and exclusive end frames of one utterance at one unit level.

    Attributes:
        units: int32 (K,) unit ids in the level's vocabulary.
        ends: int32 (K,) strictly increasing exclusive end frames; ``ends[-1]`` = T.
    """

    units: np.ndarray
    ends: np.ndarray

    def __post_init__(self) -> None:
        units = np.ascontiguousarray(self.units, dtype=np.int32)
        ends = np.ascontiguousarray(self.ends, dtype=np.int32)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "ends", ends)
        if units.ndim != 1 or units.shape != ends.shape:
            raise ValueError(f"Segments: units {units.shape} and ends {ends.shape} differ")
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
        )


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
