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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import KaldiKdError

if TYPE_CHECKING:
    from kaldi_kd.data.fix import FixReport

PathLike = Union[str, os.PathLike]

# file name -> number of fields after the key (None = one free-form value, may be empty)
_KEYED_FILES = ("wav.scp", "text", "utt2spk", "segments", "feats.scp", "cmvn.scp",
                "utt2dur", "utt2num_frames", "reco2dur")
_PER_UTT_OPTIONAL = ("feats.scp", "utt2dur", "utt2num_frames")


class DataDirError(KaldiKdError, ValueError):
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
        """Read ``<key> <value...>`` lines; the value keeps its inner spacing.

        A line that is not valid UTF-8 is a problem (and skipped), not an exception.
        """
        t = cls(path)
        with open(path, "rb") as f:
            for n, raw in enumerate(f, start=1):
                line = _decode_line(raw, path, n, t.problems)
                if line is None:
                    continue
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    t.problems.append(f"{path}:{n}: empty line (remove it)")
                    continue
                parts = line.split(None, 1)
                key, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
                if line[0].isspace():
                    t.problems.append(f"{path}:{n}: line starts with whitespace (remove it)")
                if len(value.split()) < min_fields - 1:
                    t.problems.append(f"{path}:{n}: expected at least {min_fields} fields "
                                      f"for '{key}', got {1 + len(value.split())} (complete or remove the line)")
                    continue
                if key in t.values:
                    t.problems.append(f"{path}:{n}: duplicate id '{key}', first on line {t.lines[key]} "
                                      "(ids must be unique; fix keeps the first)")
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


def _decode_line(raw: bytes, path: Path, lineno: int, problems: List[str]) -> Optional[str]:
    """``raw`` as UTF-8, or None with a problem naming the line and the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column "
                        f"{len(raw[:err.start].decode('utf-8', 'replace')) + 1}; convert the file, "
                        "e.g. iconv -f latin1 -t utf-8)")
        return None


@dataclass
class Segment:
    """One line of ``segments``."""

    recording: str
    start: float
    end: float




def _sorted_lines(items: Dict[str, str]) -> str:
    return "".join(f"{k} {v}\n" for k, v in sorted(items.items()))




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
        self._segments: Optional[Dict[str, Segment]] = None

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
        if self._segments is not None:
            return self._segments
        out = {}
        for utt, value in t.values.items():
            reco, start, end = value.split()[:3]
            try:
                out[utt] = Segment(reco, float(start), float(end))
            except ValueError:
                raise DataDirError(f"{t.where(utt)}: utterance '{utt}' has non-numeric "
                                   f"start/end '{start} {end}'") from None
        self._segments = out
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
        from kaldi_kd.data.validate import data_dir_problems

        return data_dir_problems(self, check_wavs=check_wavs, require_text=require_text)


    def validate(self, check_wavs: bool = True, require_text: bool = True) -> "DataDir":
        """Raise :class:`DataDirError` listing every problem; return self when valid.

        Checks: well-formed lines; sorted unique ids; utt2spk/spk2utt agree and utt ids
        sort consistently with speakers; non-empty transcripts; wav.scp entries are
        existing files or pipes ending in '|'; segments lie inside their recordings;
        per-utterance files cover the same ids; cmvn.scp covers every speaker.
        """
        probs = self.problems(check_wavs=check_wavs, require_text=require_text)
        if probs:
            more = f" ({len(probs) - 20} more not shown)" if len(probs) > 20 else ""
            raise DataDirError("\n".join(probs[:20]) + f"\n{self.path}: invalid data dir, {len(probs)} "
                               f"problem(s){more} (fix them, or steps_py/fix_data_dir.py keeps the "
                               "consistent part)")
        return self





    # ------------------------------------------------------------------- fix
    def fix(self, backup: bool = True) -> "FixReport":
        """Keep the consistent part, like ``utils/fix_data_dir.sh``; see :func:`kaldi_kd.data.fix.fix_data_dir`."""
        from kaldi_kd.data.fix import fix_data_dir

        return fix_data_dir(self, backup=backup)




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
        from kaldi_kd.data.fix import keep_utts

        keep_utts(sub, set(utts) & set(self.utt2spk))
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
    def split(self, num_jobs: int, per_utt: bool = False, strict: bool = False) -> List["DataDir"]:
        """``split<N>/<n>/`` like ``utils/split_data.sh``; see :func:`kaldi_kd.data.split.split_data_dir`."""
        from kaldi_kd.data.split import split_data_dir

        return split_data_dir(self, num_jobs, per_utt=per_utt, strict=strict)







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




def load_data_dir(path: PathLike, validate: bool = True, check_wavs: bool = True) -> DataDir:
    """Load (and by default validate) a data dir."""
    d = DataDir.load(path)
    return d.validate(check_wavs=check_wavs) if validate else d
