"""Splitting a Kaldi data dir into N jobs (Kaldi's utils/split_data.sh): ``<dir>/split<N>/<n>/``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, List

from kaldi_kd.data.datadir import DataDirError

if TYPE_CHECKING:
    from kaldi_kd.data.datadir import DataDir

log = logging.getLogger(__name__)


def split_data_dir(d: "DataDir", num_jobs: int, per_utt: bool = False, strict: bool = False) -> List["DataDir"]:
    """Split into ``split<N>/<n>/`` (n = 1..N), like ``utils/split_data.sh``.

    Per speaker when possible (each speaker's utterances in one part, speakers in
    sorted order, parts balanced by utterance count).  With fewer speakers than
    jobs the utterances are split instead (a warning; ``strict=True`` raises as
    Kaldi does).  ``per_utt=True`` always splits utterances, into ``split<N>utt/``.
    An up-to-date existing split is reused.

    Raises:
        DataDirError: if num_jobs < 1 or there are fewer utterances (or, when
        strict, speakers) than jobs.
    """
    if not per_utt and not strict and len(d.speakers) < num_jobs:
        if num_jobs <= len(d.utts):
            log.warning("%s: %d speakers < %d jobs: splitting per utterance into split%d",
                        d.path, len(d.speakers), num_jobs, num_jobs)
        groups = _split_groups(d, num_jobs, per_utt=True)
    else:
        groups = _split_groups(d, num_jobs, per_utt)
    base = d.path / f"split{num_jobs}{'utt' if per_utt else ''}"
    if _split_is_fresh(d, base, num_jobs, groups):
        return [type(d).load(base / str(n)) for n in range(1, num_jobs + 1)]
    return [d.subset(g, base / str(n)) for n, g in enumerate(groups, start=1)]


def _split_groups(d: "DataDir", num_jobs: int, per_utt: bool) -> List[List[str]]:
    if num_jobs < 1:
        raise DataDirError(f"{d.path}: number of jobs must be >= 1, got {num_jobs}")
    inv = d.utt2spk_inverse()
    blocks = [[u] for u in d.utts] if per_utt else [inv[s] for s in sorted(inv)]
    unit = "utterances" if per_utt else "speakers"
    if len(blocks) < num_jobs:
        raise DataDirError(f"{d.path}: cannot split {len(blocks)} {unit} into {num_jobs} "
                           "jobs (use fewer jobs" + ("" if per_utt else " or split per utterance") + ")")
    return _balanced_contiguous(blocks, num_jobs)


def _split_is_fresh(d: "DataDir", base: Path, num_jobs: int, groups: List[List[str]]) -> bool:
    parts = [base / str(n) for n in range(1, num_jobs + 1)]
    if not all((p / "utt2spk").is_file() for p in parts):
        return False
    for p, g in zip(parts, groups):  # same partition as now wanted
        if [l.split(None, 1)[0] for l in (p / "utt2spk").read_text().splitlines() if l.strip()] != g:
            return False
    newest_src = max((d.path / n).stat().st_mtime for n in d.tables if (d.path / n).is_file())
    return all((p / n).is_file() and (p / n).stat().st_mtime >= newest_src
               for p in parts for n in d.tables)


def _balanced_contiguous(blocks: List[List[str]], n: int) -> List[List[str]]:
    """Cut a list of blocks into n contiguous non-empty groups of about equal size.

    A group is closed before a block when that keeps the running total closer to the
    group's ideal end (total * k / n), or when the blocks left are just enough.
    """
    total = sum(len(b) for b in blocks)
    groups: List[List[str]] = []
    cur: List[str] = []
    done = 0
    for i, b in enumerate(blocks):
        after = n - len(groups) - 1  # groups still to open after the current one
        if cur and after > 0:
            target = total * (len(groups) + 1) / n
            if len(blocks) - i == after or abs(done - target) <= abs(done + len(b) - target):
                groups.append(cur)
                cur = []
        cur = cur + b
        done += len(b)
    groups.append(cur)
    assert len(groups) == n and all(groups), "internal: bad split"
    return groups
