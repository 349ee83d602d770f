"""Choose a subset of a data dir's utterances (Kaldi's utils/subset_data_dir.sh).

Modes: ``spread`` (Kaldi's default: N utterances evenly spaced in sorted order, so
speakers are covered), ``first``, ``last``, ``shortest`` (by utt2num_frames, else utt2dur).
:func:`pick_utts_hours` takes the smallest spread subset with at least H hours of audio
(for learning curves); ``--utt-list`` keeps the utterances of a list file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Union

from kaldi_kd.data.datadir import DataDir, DataDirError
from kaldi_kd.errors import InputError

PathLike = Union[str, Path]
MODES = ("spread", "first", "last", "shortest")


def utterance_seconds(d: DataDir, frame_shift: float = 0.01) -> Dict[str, float]:
    """utt -> duration in seconds, from utt2dur or utt2num_frames (x ``frame_shift``).

    Raises:
        DataDirError: naming the data dir when it has neither file.
    """
    if (d.path / "utt2dur").is_file():
        return utterance_lengths(d, ("utt2dur",))
    if (d.path / "utt2num_frames").is_file():
        return {u: n * frame_shift for u, n in utterance_lengths(d, ("utt2num_frames",)).items()}
    raise DataDirError(f"{d.path}: a subset by hours needs utt2dur or utt2num_frames (compute features first)")


def pick_utts_hours(d: DataDir, hours: float) -> List[str]:
    """The smallest ``spread`` subset whose audio adds up to at least ``hours`` (all when short)."""
    secs = utterance_seconds(d)
    missing = [u for u in d.utts if u not in secs]
    if missing:
        raise DataDirError(f"{d.path}: no duration for utterance {missing[0]} ({len(missing)} missing)")
    target = hours * 3600.0
    if sum(secs.values()) <= target:
        return list(d.utts)
    lo, hi = 1, len(d.utts)  # smallest n with duration(spread(n)) >= target
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(secs[u] for u in pick_utts(d, mid)) >= target:
            hi = mid
        else:
            lo = mid + 1
    return pick_utts(d, lo)


def utterance_lengths(d: DataDir, names=("utt2num_frames", "utt2dur")) -> Dict[str, float]:
    """utt -> length from utt2num_frames (frames) or utt2dur (seconds).

    Raises:
        DataDirError: naming the data dir when it has neither file.
    """
    for name in names:
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


def read_utt_list(path: PathLike, d: DataDir) -> List[str]:
    """Utterance ids of a list file (first field per line), each checked against ``d``.

    Raises:
        DataDirError: naming the file and line of an utterance ``d`` does not have.
    """
    known = set(d.utts)
    out = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields[0] not in known:
            raise DataDirError(f"{path}:{lineno}: utterance {fields[0]} is not in {d.path}")
        out.append(fields[0])
    return sorted(set(out))
