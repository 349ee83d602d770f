"""Choose a subset of a data dir's utterances (Kaldi's utils/subset_data_dir.sh).

Modes: ``spread`` (Kaldi's default: N utterances evenly spaced in sorted order, so
speakers are covered), ``first``, ``last``, ``shortest`` (by utt2num_frames, else utt2dur).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Union

from kaldi_kd.data.datadir import DataDir, DataDirError
from kaldi_kd.errors import InputError

PathLike = Union[str, Path]
MODES = ("spread", "first", "last", "shortest")


def utterance_lengths(d: DataDir) -> Dict[str, float]:
    """utt -> length from utt2num_frames (frames) or utt2dur (seconds).

    Raises:
        DataDirError: naming the data dir when it has neither file.
    """
    for name in ("utt2num_frames", "utt2dur"):
        f = d.path / name
        if f.is_file():
            return {k: float(v) for k, v in (line.split()[:2] for line in f.read_text().splitlines() if line.strip())}
    raise DataDirError(f"{d.path}: --shortest needs utt2num_frames or utt2dur (compute features first)")


def pick_utts(d: DataDir, num: int, mode: str = "spread") -> List[str]:
    """``num`` utterance ids of ``d`` chosen by ``mode`` (all of them when num >= #utts)."""
    if mode not in MODES:
        raise InputError(f"subset mode must be one of {MODES}, got {mode!r}")
    utts = d.utts
    if num >= len(utts):
        return list(utts)
    if mode == "first":
        return utts[:num]
    if mode == "last":
        return utts[-num:]
    if mode == "shortest":
        lengths = utterance_lengths(d)
        return sorted(sorted(utts, key=lambda u: (lengths.get(u, float("inf")), u))[:num])
    step = len(utts) / num
    return [utts[int(i * step)] for i in range(num)]


def subset_data_dir(src: PathLike, num: int, dest: PathLike, mode: str = "spread") -> DataDir:
    """Write the ``num``-utterance subset of ``src`` chosen by ``mode`` into ``dest``."""
    d = DataDir.load(src)
    return d.subset(pick_utts(d, num, mode), dest)
