"""Scoring with NIST sclite (``trn`` transcripts), keeping its reports.

Transcripts are written in sclite's ``trn`` form, one line per utterance:
``w1 w2 ... (spk-utt)``, so sclite's ``-i rm`` id parsing gives per-speaker
results (the speaker is the part before the first ``-``; '-' inside a speaker id
is replaced by '_').  :func:`run_sclite` runs
``sclite -r ref.trn trn -h hyp.trn trn -i rm -s -o sum rsum pra dtl -O DIR -n NAME``
(``-s``: case-sensitive, like Kaldi's compute-wer) and parses the counts back from ``NAME.raw`` (totals and speakers) and
``NAME.pra`` (utterances).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.kaldi.backend import sclite_path
from kaldi_kd.score.wer import ErrorCounts

PathLike = Union[str, os.PathLike]


class ScliteError(RuntimeError):
    """sclite failed or its output could not be parsed; the message names the file."""


def trn_id(utt: str, spk: str) -> str:
    return f"{spk.replace('-', '_')}-{utt}"


def write_trn(path: PathLike, texts: Mapping[str, str], utt2spk: Mapping[str, str]) -> None:
    """Write ``texts`` (utt -> words) as an sclite trn file, sorted by utterance."""
    lines = []
    for utt in sorted(texts):
        spk = utt2spk.get(utt, utt)
        lines.append(f"{texts[utt].strip()} ({trn_id(utt, spk)})\n")
    write_text_atomic(path, "".join(lines))


@dataclass
class ScliteResult:
    """Counts from an sclite run: overall, per speaker, per utterance (keyed by utt id)."""

    total: ErrorCounts
    speakers: Dict[str, ErrorCounts] = field(default_factory=dict)
    utterances: Dict[str, ErrorCounts] = field(default_factory=dict)
    reports: Dict[str, str] = field(default_factory=dict)


def run_sclite(ref_trn: PathLike, hyp_trn: PathLike, out_dir: PathLike, name: str,
               sclite: Optional[str] = None) -> ScliteResult:
    """Score ``hyp_trn`` against ``ref_trn``; reports ``out_dir/name.{sys,raw,dtl,pra}``.

    Raises:
        ScliteError: when sclite fails (its stderr tail in the message).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sclite or sclite_path(), "-r", str(ref_trn), "trn", "-h", str(hyp_trn), "trn",
           "-i", "rm", "-s", "-o", "sum", "rsum", "pra", "dtl", "-O", str(out_dir), "-n", name]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    raw = out_dir / f"{name}.raw"
    if proc.returncode != 0 or not raw.is_file():
        raise ScliteError(f"sclite failed on {hyp_trn} (rc {proc.returncode}): "
                          f"{(proc.stderr or proc.stdout)[-800:]}")
    total, speakers = parse_raw(raw)
    utts = parse_pra(out_dir / f"{name}.pra")
    reports = {ext: str(out_dir / f"{name}.{ext}") for ext in ("sys", "raw", "dtl", "pra")}
    return ScliteResult(total, speakers, utts, reports)


_ROW = re.compile(r"^\s*\|\s*(\S+)\s*\|\s*(\d+)\s+(\d+)\s*\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\|")


def parse_raw(path: PathLike):
    """(total, per-speaker) counts from an sclite ``.raw`` report."""
    total = None
    speakers: Dict[str, ErrorCounts] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        name, snt, wrd, _corr, sub, dele, ins, _err, serr = m.groups()
        c = ErrorCounts(int(ins), int(dele), int(sub), int(wrd), int(snt), int(serr))
        if name == "Sum":
            total = c
        elif name not in ("Mean", "S.D.", "Median"):
            speakers[name] = c
    if total is None:
        raise ScliteError(f"{path}: no 'Sum' row in sclite raw report")
    return total, speakers


def parse_pra(path: PathLike) -> Dict[str, ErrorCounts]:
    """Per-utterance counts (keyed by the utterance id inside ``(spk-utt)``) from ``.pra``."""
    out: Dict[str, ErrorCounts] = {}
    utt = None
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("id: ("):
            ident = line[5:].rstrip(")").strip()
            utt = ident.split("-", 1)[1] if "-" in ident else ident
        elif line.startswith("Scores: (#C #S #D #I)") and utt is not None:
            c, s, d, i = (int(x) for x in line.split(")")[1].split())
            out[utt] = ErrorCounts(i, d, s, c + s + d, 1, int(s + d + i > 0))
            utt = None
    return out
