"""Scoring with NIST sclite (``trn`` transcripts), keeping its reports.

Transcripts are written in sclite's ``trn`` form, one line per utterance:
``w1 w2 ... (id)``.  sclite's ``-i rm`` id parsing takes the speaker as the part
of the id before its first ``-``, so the id is built from utt2spk (:func:`trn_ids`):
``<spk>-<rest>`` where ``<spk>`` is the speaker with '-' replaced by '_' and
``<rest>`` is the utterance id without its ``<spk>-`` prefix when it has one (Kaldi's
convention that utterance ids start with the speaker id), else the whole utterance
id.  So ``utt2spk: spk1-u00 spk1`` gives ``(spk1-u00)`` (the utterance id itself, as
Kaldi's trn scripts write it), ``a-b-u00 a-b`` gives ``(a_b-u00)``, and
``u00 spk1`` gives ``(spk1-u00)``; sclite's per-speaker results then group by the
real speaker, and :func:`run_sclite` maps ids back to utterances and speakers.  :func:`run_sclite` runs
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
from typing import Dict, Iterable, List, Mapping, Optional, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.kaldi.backend import sclite_path
from kaldi_kd.score.wer import ErrorCounts
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]


class ScliteError(KaldiKdError, RuntimeError):
    """sclite failed or its output could not be parsed; the message names the file."""


def trn_id(utt: str, spk: str) -> str:
    """sclite id of ``utt`` spoken by ``spk`` (see module doc): ``<spk'>-<rest>``."""
    rest = utt[len(spk) + 1:] if utt.startswith(spk + "-") and len(utt) > len(spk) + 1 else utt
    return f"{spk.replace('-', '_')}-{rest}"


def trn_ids(utts: Iterable[str], utt2spk: Mapping[str, str]) -> Dict[str, str]:
    """utt -> sclite id for ``utts`` (an utterance without a speaker is its own speaker).

    Raises:
        ScliteError: when two utterances would get the same id (e.g. speakers 'a-b'
            and 'a_b' with the same utterance suffix).
    """
    out: Dict[str, str] = {}
    seen: Dict[str, str] = {}
    for utt in utts:
        ident = trn_id(utt, utt2spk.get(utt, utt))
        if ident in seen and seen[ident] != utt:
            raise ScliteError(f"utterances '{seen[ident]}' and '{utt}' map to the same sclite id "
                              f"'({ident})'; rename speakers or utterances")
        seen[ident] = utt
        out[utt] = ident
    return out


def write_trn(path: PathLike, texts: Mapping[str, str], utt2spk: Mapping[str, str]) -> None:
    """Write ``texts`` (utt -> words) as an sclite trn file, sorted by utterance."""
    ids = trn_ids(sorted(texts), utt2spk)
    lines = [f"{texts[utt].strip()} ({ids[utt]})\n" for utt in sorted(texts)]
    write_text_atomic(path, "".join(lines))


@dataclass
class UttAlignment:
    """sclite's alignment of one utterance: aligned (ref, hyp) tokens ('***' for a gap),
    the op per pair (C/S/I/D) and the counts."""

    ref: List[str]
    hyp: List[str]
    ops: List[str]
    counts: ErrorCounts


@dataclass
class ScliteResult:
    """Counts from an sclite run: overall, per speaker (sclite's speaker, or the real
    one when ``run_sclite`` got ``utt2spk``), per utterance (keyed by utt id), and
    sclite's own per-utterance alignments."""

    total: ErrorCounts
    speakers: Dict[str, ErrorCounts] = field(default_factory=dict)
    utterances: Dict[str, ErrorCounts] = field(default_factory=dict)
    reports: Dict[str, str] = field(default_factory=dict)
    alignments: Dict[str, UttAlignment] = field(default_factory=dict)


def run_sclite(ref_trn: PathLike, hyp_trn: PathLike, out_dir: PathLike, name: str,
               sclite: Optional[str] = None,
               utt2spk: Optional[Mapping[str, str]] = None) -> ScliteResult:
    """Score ``hyp_trn`` against ``ref_trn``; reports ``out_dir/name.{sys,raw,dtl,pra}``.

    Per-utterance counts and alignments come from sclite's ``.pra`` (so they sum to
    the total by construction).  With ``utt2spk`` (the one the trn files were
    written with) the ids are mapped back to utterance ids and ``speakers`` is keyed
    by the real speaker ids; without it both are keyed as sclite names them (the trn
    id; the speaker part of the id).

    Raises:
        ScliteError: when sclite fails (its stderr tail in the message), or the
            per-utterance counts do not add up to sclite's total.
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
    pra = out_dir / f"{name}.pra"
    alis = parse_pra_alignments(pra)
    if utt2spk is not None:
        id2utt = {i: u for u, i in trn_ids(utt2spk, utt2spk).items()}
        alis = {id2utt.get(i, i): a for i, a in alis.items()}
        speakers = {}
        for utt, a in alis.items():
            spk = utt2spk.get(utt, utt)
            speakers[spk] = speakers.get(spk, ErrorCounts()) + a.counts
    utts = {u: a.counts for u, a in alis.items()}
    summed = sum((c for c in utts.values()), ErrorCounts())
    if (summed.ins, summed.dels, summed.subs, summed.ref_words) != \
            (total.ins, total.dels, total.subs, total.ref_words):
        raise ScliteError(f"{pra}: per-utterance counts {summed.kaldi_line()} do not add up to "
                          f"the total {total.kaldi_line()} of {raw}")
    reports = {ext: str(out_dir / f"{name}.{ext}") for ext in ("sys", "raw", "dtl", "pra")}
    return ScliteResult(total, speakers, utts, reports, alis)


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


_GAP = re.compile(r"^\*+$")


def _ops(ref: List[str], hyp: List[str]) -> List[str]:
    return ["I" if _GAP.match(r) else "D" if _GAP.match(h) else "C" if r == h else "S"
            for r, h in zip(ref, hyp)]


def parse_pra_alignments(path: PathLike) -> Dict[str, UttAlignment]:
    """sclite's alignment per trn id (the text inside ``(...)``) from a ``.pra`` report.

    Raises:
        ScliteError: naming the file when an utterance's REF/HYP lines do not match its
            ``Scores:`` line.
    """
    out: Dict[str, UttAlignment] = {}
    ident, scores, ref = None, None, None
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("id: ("):
            ident, scores, ref = line[5:].strip().rstrip(")"), None, None
        elif line.startswith("Scores: (#C #S #D #I)") and ident is not None:
            scores = tuple(int(x) for x in line.split(")")[1].split())
        elif line.startswith("REF:") and ident is not None:
            ref = line[4:].split()
        elif line.startswith("HYP:") and ident is not None and ref is not None and scores is not None:
            hyp = line[4:].split()
            ops = _ops(ref, hyp)
            c, s, d, i = scores
            if len(ref) != len(hyp) or [ops.count(x) for x in "CSDI"] != [c, s, d, i]:
                raise ScliteError(f"{path}: alignment of '({ident})' does not match its Scores line")
            out[ident] = UttAlignment(["***" if _GAP.match(w) else w for w in ref],
                                      ["***" if _GAP.match(w) else w for w in hyp], ops,
                                      ErrorCounts(i, d, s, c + s + d, 1, int(s + d + i > 0)))
            ident = None
    return out


def parse_pra(path: PathLike) -> Dict[str, ErrorCounts]:
    """Per-utterance counts keyed by trn id (the utterance id under Kaldi's convention
    that it starts with a '-'-free speaker id) from ``.pra``."""
    return {i: a.counts for i, a in parse_pra_alignments(path).items()}
