"""A Kaldi data directory: load, validate, fix, split, save.

A data dir holds one line per id in each of these files (Kaldi's layout):

    wav.scp          <recording-id> <path> | <recording-id> <command ... |>
    text             <utt-id> <word> <word> ...
    utt2spk          <utt-id> <speaker-id>
    spk2utt          <speaker-id> <utt-id> <utt-id> ...
    segments         <utt-id> <recording-id> <start-seconds> <end-seconds>   (optional)
    feats.scp        <utt-id> <ark-path:offset>                            (optional)
    cmvn.scp         <speaker-id> <ark-path:offset>                        (optional)
    utt2dur, utt2num_frames, reco2dur                                      (optional)

Without ``segments`` the recording ids of ``wav.scp`` are the utterance ids.
:meth:`DataDir.load` is lenient (it records what it sees, with line numbers);
:meth:`DataDir.validate` raises :class:`DataDirError` naming the file and line or
utterance of every problem; :meth:`DataDir.fix` keeps the consistent part (like
``utils/fix_data_dir.sh``); :meth:`DataDir.split` writes ``split<N>/<n>/`` (like
``utils/split_data.sh``).

Example:
    >>> d = DataDir.load("data/train")            # doctest: +SKIP
    >>> d.validate()                               # doctest: +SKIP
    >>> parts = d.split(4)                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic

PathLike = Union[str, os.PathLike]

# file name -> number of fields after the key (None = one free-form value, may be empty)
_KEYED_FILES = ("wav.scp", "text", "utt2spk", "segments", "feats.scp", "cmvn.scp",
                "utt2dur", "utt2num_frames", "reco2dur")
_PER_UTT_OPTIONAL = ("feats.scp", "utt2dur", "utt2num_frames")
_SEG_TOLERANCE = 1e-3  # seconds a segment may overshoot its recording (rounding)


class DataDirError(ValueError):
    """A data dir problem; the message names the file and the line or id."""


@dataclass
class Table:
    """One key -> value file as read: entries in file order with 1-based line numbers.

    ``problems`` holds parse problems (malformed or duplicate lines) found on load.
    """

    path: Path
    values: Dict[str, str] = field(default_factory=dict)
    lines: Dict[str, int] = field(default_factory=dict)
    order: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path, min_fields: int = 2) -> "Table":
        """Read ``<key> <value...>`` lines; the value keeps its inner spacing."""
        t = cls(path)
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    t.problems.append(f"{path}:{n}: empty line")
                    continue
                parts = line.split(None, 1)
                key, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
                if line[0].isspace():
                    t.problems.append(f"{path}:{n}: line starts with whitespace")
                if len(value.split()) < min_fields - 1:
                    t.problems.append(f"{path}:{n}: expected at least {min_fields} fields "
                                      f"for '{key}', got {1 + len(value.split())}")
                    continue
                if key in t.values:
                    t.problems.append(f"{path}:{n}: duplicate id '{key}' "
                                      f"(first on line {t.lines[key]})")
                    continue
                t.values[key] = value
                t.lines[key] = n
                t.order.append(key)
        return t

    def where(self, key: str) -> str:
        """``file:line`` of ``key`` (or just the file)."""
        n = self.lines.get(key)
        return f"{self.path}:{n}" if n else str(self.path)

    def sort_problems(self) -> List[str]:
        """Report the first place where the keys are not in C-locale sorted order."""
        for prev, cur in zip(self.order, self.order[1:]):
            if not prev < cur:
                return [f"{self.where(cur)}: ids not sorted (LC_ALL=C sort): '{cur}' after "
                        f"'{prev}' (run fix to sort)"]
        return []


@dataclass
class Segment:
    """One line of ``segments``."""

    recording: str
    start: float
    end: float


@dataclass
class FixReport:
    """What :meth:`DataDir.fix` dropped: reason -> dropped ids, per file."""

    dropped: Dict[str, List[str]] = field(default_factory=dict)

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
        if not self.dropped:
            return "nothing dropped"
        lines = []
        for what, ids in self.dropped.items():
            shown = " ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            lines.append(f"dropped {len(ids)} {what}: {shown}")
        return "\n".join(lines)


def _sorted_lines(items: Dict[str, str]) -> str:
    return "".join(f"{k} {v}\n" for k, v in sorted(items.items()))


def _wav_duration(entry: str) -> Optional[float]:
    """Duration of a plain RIFF wav file entry, or None (pipes, other formats)."""
    if entry.endswith("|") or not entry.lower().endswith(".wav") or not os.path.isfile(entry):
        return None
    try:
        with wave.open(entry, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, OSError):
        return None


class DataDir:
    """A Kaldi data directory.

    Attributes:
        path: the directory.
        tables: file name -> :class:`Table` for every file present (spk2utt excluded).
        spk2utt: speaker -> list of utterances as read from ``spk2utt`` (None if absent).
    """

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.tables: Dict[str, Table] = {}
        self.spk2utt: Optional[Dict[str, List[str]]] = None
        self._spk2utt_table: Optional[Table] = None

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: PathLike) -> "DataDir":
        """Read every known file present in ``path``.

        Raises:
            DataDirError: if the directory or its ``utt2spk`` does not exist.
        """
        d = cls(path)
        if not d.path.is_dir():
            raise DataDirError(f"{d.path}: no such data directory")
        if not (d.path / "utt2spk").is_file():
            raise DataDirError(f"{d.path / 'utt2spk'}: expected file to exist")
        for name in _KEYED_FILES:
            p = d.path / name
            if p.is_file():
                min_fields = {"segments": 4, "text": 1}.get(name, 2)
                d.tables[name] = Table.read(p, min_fields=min_fields)
        p = d.path / "spk2utt"
        if p.is_file():
            t = Table.read(p)
            d._spk2utt_table = t
            d.spk2utt = {k: v.split() for k, v in t.values.items()}
        return d

    # ----------------------------------------------------------- accessors
    def _values(self, name: str) -> Dict[str, str]:
        t = self.tables.get(name)
        return t.values if t else {}

    @property
    def utt2spk(self) -> Dict[str, str]:
        return self._values("utt2spk")

    @property
    def text(self) -> Dict[str, str]:
        return self._values("text")

    @property
    def wav_scp(self) -> Dict[str, str]:
        return self._values("wav.scp")

    @property
    def feats_scp(self) -> Dict[str, str]:
        return self._values("feats.scp")

    @property
    def cmvn_scp(self) -> Dict[str, str]:
        return self._values("cmvn.scp")

    @property
    def utts(self) -> List[str]:
        """Utterance ids (utt2spk order, sorted)."""
        return sorted(self.utt2spk)

    @property
    def speakers(self) -> List[str]:
        return sorted(set(self.utt2spk.values()))

    def has(self, name: str) -> bool:
        return name in self.tables

    def segments(self) -> Optional[Dict[str, Segment]]:
        """utt -> :class:`Segment` (None without a segments file); bad numbers raise."""
        t = self.tables.get("segments")
        if t is None:
            return None
        out = {}
        for utt, value in t.values.items():
            reco, start, end = value.split()[:3]
            try:
                out[utt] = Segment(reco, float(start), float(end))
            except ValueError:
                raise DataDirError(f"{t.where(utt)}: utterance '{utt}' has non-numeric "
                                   f"start/end '{start} {end}'") from None
        return out

    def utt2spk_inverse(self) -> Dict[str, List[str]]:
        """speaker -> sorted utterances, computed from utt2spk."""
        out: Dict[str, List[str]] = {}
        for utt in sorted(self.utt2spk):
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return out

    def utt2num_frames(self) -> Dict[str, int]:
        return {k: int(v) for k, v in self._values("utt2num_frames").items()}

    def wav_entry(self, utt: str) -> Tuple[str, Optional[Segment]]:
        """(wav.scp entry, segment or None) for an utterance."""
        segs = self.segments()
        if segs is not None:
            seg = segs[utt]
            return self.wav_scp[seg.recording], seg
        return self.wav_scp[utt], None

    # ------------------------------------------------------------ validation
    def problems(self, check_wavs: bool = True, require_text: bool = True) -> List[str]:
        """Every problem found, each naming file and line or utterance (empty if valid)."""
        out: List[str] = []
        for t in list(self.tables.values()) + ([self._spk2utt_table] if self._spk2utt_table else []):
            out += t.problems
            out += t.sort_problems()
        out += self._speaker_problems()
        if "text" in self.tables:
            out += self._text_problems()
        elif require_text:
            out.append(f"{self.path / 'text'}: expected file to exist")
        out += self._audio_problems(check_wavs)
        out += self._coverage_problems()
        return out

    def validate(self, check_wavs: bool = True, require_text: bool = True) -> "DataDir":
        """Raise :class:`DataDirError` listing every problem; return self when valid.

        Checks: well-formed lines; sorted unique ids; utt2spk/spk2utt agree and utt ids
        sort consistently with speakers; non-empty transcripts; wav.scp entries are
        existing files or pipes ending in '|'; segments lie inside their recordings;
        per-utterance files cover the same ids; cmvn.scp covers every speaker.
        """
        probs = self.problems(check_wavs=check_wavs, require_text=require_text)
        if probs:
            more = f"\n(and {len(probs) - 20} more)" if len(probs) > 20 else ""
            raise DataDirError(f"{self.path}: invalid data dir ({len(probs)} problem(s)):\n"
                               + "\n".join(probs[:20]) + more)
        return self

    def _speaker_problems(self) -> List[str]:
        out = []
        t = self.tables["utt2spk"]
        for utt, spk in t.values.items():
            if len(spk.split()) != 1:
                out.append(f"{t.where(utt)}: utterance '{utt}' has more than one speaker: '{spk}'")
        inv = self.utt2spk_inverse()
        if self.spk2utt is None:
            out.append(f"{self.path / 'spk2utt'}: expected file to exist (fix regenerates it)")
            return out
        st = self._spk2utt_table
        for spk in sorted(set(inv) | set(self.spk2utt)):
            have, want = self.spk2utt.get(spk), inv.get(spk)
            if have is None:
                out.append(f"{st.path}: speaker '{spk}' of utt2spk is missing")
            elif want is None:
                out.append(f"{st.where(spk)}: speaker '{spk}' has no utterance in utt2spk")
            elif have != want:
                diff = sorted(set(have) ^ set(want))
                what = f"utterances differ: {' '.join(diff[:5])}" if diff else "utterances not sorted"
                out.append(f"{st.where(spk)}: speaker '{spk}' disagrees with utt2spk ({what})")
        # Kaldi requires sorting by speaker and by utterance to agree (prefix utts by speaker).
        by_spk = [u for spk in sorted(inv) for u in inv[spk]]
        if by_spk != sorted(self.utt2spk):
            bad = next(u for u, v in zip(by_spk, sorted(self.utt2spk)) if u != v)
            out.append(f"{t.where(bad)}: utterance '{bad}': utt2spk is not sorted the same when "
                       "sorted by speaker (make speaker ids prefixes of utterance ids)")
        return out

    def _text_problems(self) -> List[str]:
        t = self.tables["text"]
        return [f"{t.where(u)}: utterance '{u}' has an empty transcript"
                for u, v in t.values.items() if not v.strip()]

    def _audio_problems(self, check_wavs: bool) -> List[str]:
        out: List[str] = []
        wt = self.tables.get("wav.scp")
        if wt is None:
            if "feats.scp" not in self.tables:
                out.append(f"{self.path / 'wav.scp'}: expected file to exist (or feats.scp)")
            return out
        durations = {k: float(v) for k, v in self._values("reco2dur").items()
                     if _is_float(v)}
        for reco, entry in wt.values.items():
            if entry.endswith("|"):
                continue
            if "|" in entry:
                out.append(f"{wt.where(reco)}: recording '{reco}': a pipe must end in '|': '{entry}'")
            elif check_wavs and not os.path.exists(entry.rsplit(":", 1)[0] if _is_offset(entry) else entry):
                out.append(f"{wt.where(reco)}: recording '{reco}': no such file '{entry}'")
        st = self.tables.get("segments")
        if st is None:
            return out
        for utt, value in st.values.items():
            reco, start, end = value.split()[:3]
            if not (_is_float(start) and _is_float(end)):
                out.append(f"{st.where(utt)}: utterance '{utt}' has non-numeric start/end '{start} {end}'")
                continue
            s, e = float(start), float(end)
            if reco not in wt.values:
                out.append(f"{st.where(utt)}: utterance '{utt}': recording '{reco}' not in wav.scp")
                continue
            if s < 0 or s >= e:
                out.append(f"{st.where(utt)}: utterance '{utt}': need 0 <= start < end, got {s} {e}")
                continue
            dur = durations.get(reco)
            if dur is None and check_wavs:
                dur = _wav_duration(wt.values[reco])
                if dur is not None:
                    durations[reco] = dur
            if dur is not None and e > dur + _SEG_TOLERANCE:
                out.append(f"{st.where(utt)}: utterance '{utt}': end {e} is past the end of "
                           f"recording '{reco}' ({dur:.3f} s)")
        return out

    def _coverage_problems(self) -> List[str]:
        out: List[str] = []
        utts = set(self.utt2spk)
        utt_u2s = self.tables["utt2spk"]
        audio_name = "segments" if "segments" in self.tables else "wav.scp"
        names = ["text", audio_name] + [n for n in _PER_UTT_OPTIONAL]
        if audio_name not in self.tables and "feats.scp" in self.tables:
            names.remove(audio_name)
        for name in names:
            t = self.tables.get(name)
            if t is None:
                continue
            for u in sorted(set(t.values) - utts):
                out.append(f"{t.where(u)}: utterance '{u}' is not in utt2spk")
            for u in sorted(utts - set(t.values)):
                out.append(f"{t.path}: utterance '{u}' (utt2spk line {utt_u2s.lines[u]}) is missing")
        if "segments" in self.tables and "wav.scp" in self.tables:
            used = {v.split()[0] for v in self.tables["segments"].values.values()}
            wt = self.tables["wav.scp"]
            for r in sorted(set(wt.values) - used):
                out.append(f"{wt.where(r)}: recording '{r}' has no segment (fix drops it)")
        ct = self.tables.get("cmvn.scp")
        if ct is not None:
            spks = set(self.utt2spk.values())
            for s in sorted(spks - set(ct.values)):
                out.append(f"{ct.path}: speaker '{s}' is missing")
            for s in sorted(set(ct.values) - spks):
                out.append(f"{ct.where(s)}: speaker '{s}' is not in utt2spk")
        return out

    # ------------------------------------------------------------------- fix
    def fix(self, backup: bool = True) -> FixReport:
        """Keep the consistent part, like ``utils/fix_data_dir.sh``; rewrite the files.

        Drops malformed/duplicate lines (the first of duplicates is kept), utterances
        missing from any per-utterance file, utterances with empty transcripts or bad
        segments, recordings without utterances, speakers without utterances; sorts
        everything and regenerates spk2utt.  The old files go to ``.backup/``.

        Returns:
            a :class:`FixReport` of what was dropped (also loaded back into self).
        """
        report = FixReport()
        for t in self.tables.values():
            report.add(f"malformed/duplicate lines in {t.path.name}",
                       [p.split(": ", 1)[0] for p in t.problems])
        utts = set(self.utt2spk)
        utts = {u for u in utts if len(self.utt2spk[u].split()) == 1}
        report.add("utts with bad utt2spk lines", sorted(set(self.utt2spk) - utts))
        audio = "segments" if "segments" in self.tables else "wav.scp"
        for name in ("text", audio) + _PER_UTT_OPTIONAL:
            if name in self.tables:
                missing = utts - set(self.tables[name].values)
                report.add(f"utts missing from {name}", sorted(missing))
                utts -= missing
        if "text" in self.tables:
            empty = {u for u in utts if not self.text[u].strip()}
            report.add("utts with empty transcripts", sorted(empty))
            utts -= empty
        if "segments" in self.tables:
            bad = {u for u in utts if not _good_segment(self.tables["segments"].values[u],
                                                       self.wav_scp)}
            report.add("utts with bad segments (no recording, or not 0 <= start < end)", sorted(bad))
            utts -= bad
        self._keep(utts, report)
        if backup:
            bdir = self.path / ".backup"
            bdir.mkdir(exist_ok=True)
            for name in list(self.tables) + ["spk2utt"]:
                if (self.path / name).is_file():
                    shutil.copy2(self.path / name, bdir / name)
        self.save(self.path)
        fixed = DataDir.load(self.path)
        self.tables, self.spk2utt, self._spk2utt_table = fixed.tables, fixed.spk2utt, fixed._spk2utt_table
        return report

    def _keep(self, utts: set, report: Optional[FixReport] = None) -> None:
        """Restrict every table to ``utts`` (and their recordings/speakers), in place."""
        report = report or FixReport()
        per_utt = ("text", "utt2spk", "segments") + _PER_UTT_OPTIONAL
        for name in per_utt:
            t = self.tables.get(name)
            if t is None:
                continue
            extra = set(t.values) - utts - report.ids()
            report.add(f"utts only in {name}" if name != "utt2spk" else "utts dropped from utt2spk",
                       sorted(extra))
            self._filter(name, utts)
        if "segments" in self.tables:
            recos = {v.split()[0] for v in self.tables["segments"].values.values()}
        else:
            recos = set(utts)
        for name in ("wav.scp", "reco2dur"):
            if name in self.tables:
                report.add(f"recordings dropped from {name}", sorted(set(self.tables[name].values) - recos))
                self._filter(name, recos)
        spks = {self.utt2spk[u] for u in utts}
        if "cmvn.scp" in self.tables:
            report.add("speakers dropped from cmvn.scp", sorted(set(self.cmvn_scp) - spks))
            self._filter("cmvn.scp", spks)
        self.spk2utt = self.utt2spk_inverse()

    def _filter(self, name: str, keep: set) -> None:
        t = self.tables[name]
        new = Table(t.path)
        for k in sorted(k for k in t.values if k in keep):
            new.values[k] = t.values[k]
            new.order.append(k)
        self.tables[name] = new

    # ------------------------------------------------------------------ save
    def save(self, path: PathLike) -> "DataDir":
        """Write every table sorted, plus spk2utt from utt2spk, atomically, into ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, t in self.tables.items():
            write_text_atomic(path / name, _sorted_lines(t.values))
        inv = self.utt2spk_inverse()
        write_text_atomic(path / "spk2utt", "".join(f"{s} {' '.join(u)}\n" for s, u in sorted(inv.items())))
        return self

    def subset(self, utts: List[str], path: PathLike) -> "DataDir":
        """Write the data dir restricted to ``utts`` into ``path``; return it loaded."""
        sub = DataDir(path)
        sub.tables = {n: Table(Path(path) / n, dict(t.values), dict(t.lines), list(t.order))
                      for n, t in self.tables.items()}
        sub._keep(set(utts) & set(self.utt2spk))
        for name in _KEYED_FILES:  # stale files of an older subset would disagree
            if name not in sub.tables and (Path(path) / name).is_file():
                (Path(path) / name).unlink()
        sub.save(path)
        return DataDir.load(path)

    def copy(self, dest: PathLike, with_feats: bool = False) -> "DataDir":
        """Copy to ``dest`` (like utils/copy_data_dir.sh); features only if ``with_feats``."""
        dest = Path(dest)
        if dest.resolve() == self.path.resolve():
            raise DataDirError(f"{dest}: cannot copy a data dir onto itself")
        out = DataDir(dest)
        skip = () if with_feats else ("feats.scp", "cmvn.scp", "utt2num_frames")
        out.tables = {n: Table(dest / n, dict(t.values), dict(t.lines), list(t.order))
                      for n, t in self.tables.items() if n not in skip}
        for name in _KEYED_FILES:
            if name not in out.tables and (dest / name).is_file():
                (dest / name).unlink()
        out.save(dest)
        return DataDir.load(dest)

    # ----------------------------------------------------------------- split
    def split(self, num_jobs: int, per_utt: bool = False) -> List["DataDir"]:
        """Split into ``split<N>/<n>/`` (n = 1..N), like ``utils/split_data.sh``.

        Per speaker by default (each speaker's utterances in one part, speakers in
        sorted order, parts balanced by utterance count); ``per_utt=True`` splits
        utterances evenly.  An up-to-date existing split is reused.

        Raises:
            DataDirError: if num_jobs < 1 or there are fewer speakers (utterances) than jobs.
        """
        groups = self._split_groups(num_jobs, per_utt)
        base = self.path / f"split{num_jobs}{'utt' if per_utt else ''}"
        if self._split_is_fresh(base, num_jobs):
            return [DataDir.load(base / str(n)) for n in range(1, num_jobs + 1)]
        return [self.subset(g, base / str(n)) for n, g in enumerate(groups, start=1)]

    def _split_groups(self, num_jobs: int, per_utt: bool) -> List[List[str]]:
        if num_jobs < 1:
            raise DataDirError(f"{self.path}: number of jobs must be >= 1, got {num_jobs}")
        inv = self.utt2spk_inverse()
        blocks = [[u] for u in self.utts] if per_utt else [inv[s] for s in sorted(inv)]
        unit = "utterances" if per_utt else "speakers"
        if len(blocks) < num_jobs:
            raise DataDirError(f"{self.path}: cannot split {len(blocks)} {unit} into {num_jobs} "
                               "jobs (use fewer jobs" + ("" if per_utt else " or split per utterance") + ")")
        return _balanced_contiguous(blocks, num_jobs)

    def _split_is_fresh(self, base: Path, num_jobs: int) -> bool:
        parts = [base / str(n) for n in range(1, num_jobs + 1)]
        if not all((p / "utt2spk").is_file() for p in parts):
            return False
        newest_src = max((self.path / n).stat().st_mtime for n in self.tables if (self.path / n).is_file())
        return all((p / n).is_file() and (p / n).stat().st_mtime >= newest_src
                   for p in parts for n in self.tables)


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


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _is_offset(entry: str) -> bool:
    """An extended filename ``foo.ark:123``."""
    head, _, tail = entry.rpartition(":")
    return bool(head) and tail.isdigit()


def _good_segment(value: str, wav_scp: Dict[str, str]) -> bool:
    parts = value.split()
    if len(parts) < 3 or parts[0] not in wav_scp or not (_is_float(parts[1]) and _is_float(parts[2])):
        return False
    return 0 <= float(parts[1]) < float(parts[2])


def load_data_dir(path: PathLike, validate: bool = True, check_wavs: bool = True) -> DataDir:
    """Load (and by default validate) a data dir."""
    d = DataDir.load(path)
    return d.validate(check_wavs=check_wavs) if validate else d
