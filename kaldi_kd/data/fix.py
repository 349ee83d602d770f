"""Repairing a Kaldi data dir (Kaldi's utils/fix_data_dir.sh): keep the consistent part, report the rest."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional

from kaldi_kd.data.datadir import _PER_UTT_OPTIONAL, Table, _is_float

if TYPE_CHECKING:
    from kaldi_kd.data.datadir import DataDir


@dataclass
class FixReport:
    """What :meth:`DataDir.fix` dropped: reason -> dropped ids, per file."""

    dropped: Dict[str, List[str]] = field(default_factory=dict)
    num_before: int = 0  # utterance ids seen in any per-utterance file
    num_kept: int = 0

    def add(self, what: str, ids: List[str]) -> None:
        if ids:
            self.dropped.setdefault(what, []).extend(sorted(ids))

    def ids(self) -> set:
        """Every id reported so far."""
        return {i for ids in self.dropped.values() for i in ids}

    @property
    def num_dropped_utts(self) -> int:
        return len({u for k, ids in self.dropped.items() if k.startswith("utt") for u in ids})

    def __str__(self) -> str:
        lines = [f"kept {self.num_kept} of {self.num_before} utterances"]
        if not self.dropped:
            return lines[0] + "; nothing dropped"
        for what, ids in self.dropped.items():
            shown = " ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            lines.append(f"dropped {len(ids)} {what}: {shown}")
        return "\n".join(lines)


def fix_data_dir(d: "DataDir", backup: bool = True) -> FixReport:
    """Keep the consistent part, like ``utils/fix_data_dir.sh``; rewrite the files.

    Drops malformed/duplicate lines (the first of duplicates is kept), utterances
    missing from any per-utterance file, utterances with empty transcripts or bad
    segments, recordings without utterances, speakers without utterances; sorts
    everything and regenerates spk2utt.  The old files go to ``.backup/``.

    Returns:
        a :class:`FixReport` of what was dropped (also loaded back into self).
    """
    report = FixReport()
    per_utt_files = ("text", "utt2spk", "segments") + _PER_UTT_OPTIONAL
    if "segments" not in d.tables:
        per_utt_files += ("wav.scp",)
    seen = {u for n in per_utt_files if n in d.tables for u in d.tables[n].values}
    report.add("utts missing from utt2spk", sorted(seen - set(d.utt2spk)))
    for t in d.tables.values():
        report.add(f"malformed/duplicate lines in {t.path.name}",
                   [p.split(": ", 1)[0] for p in t.problems])
    utts = set(d.utt2spk)
    utts = {u for u in utts if len(d.utt2spk[u].split()) == 1}
    report.add("utts with bad utt2spk lines", sorted(set(d.utt2spk) - utts))
    audio = "segments" if "segments" in d.tables else "wav.scp"
    for name in ("text", audio) + _PER_UTT_OPTIONAL:
        if name in d.tables:
            missing = utts - set(d.tables[name].values)
            report.add(f"utts missing from {name}", sorted(missing))
            utts -= missing
    if "text" in d.tables:
        empty = {u for u in utts if not d.text[u].strip()}
        report.add("utts with empty transcripts", sorted(empty))
        utts -= empty
    if "segments" in d.tables:
        bad = {u for u in utts if not _good_segment(d.tables["segments"].values[u],
                                                   d.wav_scp)}
        report.add("utts with bad segments (no recording, or not 0 <= start < end)", sorted(bad))
        utts -= bad
    keep_utts(d, utts, report)
    report.num_before, report.num_kept = len(seen), len(utts)
    if backup:
        bdir = d.path / ".backup"
        bdir.mkdir(exist_ok=True)
        for name in list(d.tables) + ["spk2utt"]:
            if (d.path / name).is_file():
                shutil.copy2(d.path / name, bdir / name)
    d.save(d.path)
    fixed = type(d).load(d.path)
    d.tables, d.spk2utt, d._spk2utt_table = fixed.tables, fixed.spk2utt, fixed._spk2utt_table
    return report


def keep_utts(d: "DataDir", utts: set, report: Optional[FixReport] = None) -> None:
    """Restrict every table to ``utts`` (and their recordings/speakers), in place."""
    report = report or FixReport()
    per_utt = ("text", "utt2spk", "segments") + _PER_UTT_OPTIONAL
    for name in per_utt:
        t = d.tables.get(name)
        if t is None:
            continue
        extra = set(t.values) - utts - report.ids()
        report.add(f"utts only in {name}",
                   sorted(extra))
        _filter(d, name, utts)
    if "segments" in d.tables:
        recos = {v.split()[0] for v in d.tables["segments"].values.values()}
        reported = set()
    else:  # recordings are utterances, already reported
        recos, reported = set(utts), report.ids()
    for name in ("wav.scp", "reco2dur"):
        if name in d.tables:
            report.add(f"recordings in {name} without a kept utterance",
                       sorted(set(d.tables[name].values) - recos - reported))
            _filter(d, name, recos)
    spks = {d.utt2spk[u] for u in utts}
    if "cmvn.scp" in d.tables:
        report.add("speakers in cmvn.scp without a kept utterance", sorted(set(d.cmvn_scp) - spks))
        _filter(d, "cmvn.scp", spks)
    d.spk2utt = d.utt2spk_inverse()


def _filter(d: "DataDir", name: str, keep: set) -> None:
    d._segments = None
    t = d.tables[name]
    new = Table(t.path)
    for k in sorted(k for k in t.values if k in keep):
        new.values[k] = t.values[k]
        new.order.append(k)
    d.tables[name] = new


def _good_segment(value: str, wav_scp: Dict[str, str]) -> bool:
    parts = value.split()
    if len(parts) < 3 or parts[0] not in wav_scp or not (_is_float(parts[1]) and _is_float(parts[2])):
        return False
    return 0 <= float(parts[1]) < float(parts[2])
