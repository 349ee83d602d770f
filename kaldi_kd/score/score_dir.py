"""Score a decode directory like Kaldi's ``steps/score_kaldi.sh``, with sclite.

For every LMWT in ``[min_lmwt, max_lmwt]`` and word insertion penalty WIP, each
lattice's best path is taken under ``graph + WIP * words + acoustic / LMWT``
(``lattice-scale --inv-acoustic-scale=LMWT | lattice-add-penalty | lattice-best-path``),
the hypotheses are scored with sclite, and the outputs are laid out as Kaldi does::

    <decode-dir>/wer_<LMWT>_<WIP>                       %WER line (compute-wer format)
    <decode-dir>/scoring_kaldi/test_filt.txt, ref.trn   reference
    <decode-dir>/scoring_kaldi/penalty_<WIP>/<LMWT>.txt hypotheses (Kaldi text), .trn
    <decode-dir>/scoring_kaldi/sclite/wer_<LMWT>_<WIP>.{sys,raw,dtl,pra}
    <decode-dir>/scoring_kaldi/best_wer                 best %WER line + its file
    <decode-dir>/scoring_kaldi/wer_details/{per_utt,per_spk,lmwt,wip,wer_ci.json}

``per_utt`` has Kaldi's ``ref``/``hyp``/``op``/``#csid`` lines, ``per_spk`` the
per-speaker counts (speakers from the data dir's utt2spk) and ``wer_ci.json`` the
bootstrap CI, all taken from sclite's report (``.pra``) of the setting that
``best_wer`` names, so they agree with it by construction.
Works on any Kaldi decode dir with ``lat.*.gz``.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.decode.lattice import best_path, topological_order
from kaldi_kd.decode.lattice_io import read_compact_lattices
from kaldi_kd.score.ci import bootstrap_wer_ci
from kaldi_kd.score.sclite import UttAlignment, run_sclite, write_trn
from kaldi_kd.score.wer import ErrorCounts
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]
logger = logging.getLogger(__name__)


class ScoringError(KaldiKdError, ValueError):
    """A scoring input is missing or malformed; the message names the file."""


@dataclass
class ScoringConfig:
    """Options of scoring (Kaldi's score_kaldi.sh defaults).

    Attributes:
        min_lmwt, max_lmwt: LM weight range (inverse acoustic scale).
        word_ins_penalties: WIP values swept.
        replications: bootstrap replications for the CI.
        ignore_words: words removed from references and hypotheses before scoring
            (e.g. noise tokens); empty by default.
    """

    min_lmwt: int = 7
    max_lmwt: int = 17
    word_ins_penalties: Tuple[float, ...] = (0.0, 0.5, 1.0)
    replications: int = 1000
    ignore_words: Tuple[str, ...] = ()


@dataclass
class ScoringSummary:
    """The best setting and the whole sweep."""

    best_lmwt: int
    best_wip: float
    best: ErrorCounts
    ci_low: float
    ci_high: float
    sweep: Dict[str, ErrorCounts] = field(default_factory=dict)  # "LMWT_WIP" -> counts


def wip_str(wip: float) -> str:
    """Kaldi's penalty spelling: 0.0, 0.5, 1.0."""
    return f"{wip:.1f}" if float(wip) * 10 == int(float(wip) * 10) else f"{wip:g}"


def read_words(lang_or_graph_dir: PathLike) -> List[str]:
    """id -> word from ``<dir>/words.txt``."""
    path = Path(lang_or_graph_dir) / "words.txt"
    if not path.is_file():
        raise ScoringError(f"{path}: expected file to exist (give the lang or graph dir the decoding used)")
    table: Dict[int, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        f = line.split()
        if len(f) != 2 or not f[1].isdigit():
            raise ScoringError(f"{path}:{n}: expected '<word> <id>', got {line!r}")
        table[int(f[1])] = f[0]
    out = [""] * (max(table) + 1)
    for i, w in table.items():
        out[i] = w
    return out


def read_kaldi_text(path: PathLike) -> Dict[str, str]:
    """utt -> transcript from a Kaldi ``text`` file."""
    path = Path(path)
    if not path.is_file():
        raise ScoringError(f"{path}: expected file to exist (the data dir needs its reference text)")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split(maxsplit=1)
        if f:
            out[f[0]] = f[1].strip() if len(f) > 1 else ""
    return out


def read_utt2spk(data_dir: PathLike) -> Dict[str, str]:
    path = Path(data_dir) / "utt2spk"
    if not path.is_file():
        return {}
    return dict(line.split()[:2] for line in path.read_text().splitlines() if line.strip())


def lattice_files(decode_dir: PathLike) -> List[str]:
    """``lat.N.gz`` of a decode dir in job order."""
    files = glob.glob(str(Path(decode_dir) / "lat.*.gz"))
    if not files:
        raise ScoringError(f"{decode_dir}/lat.*.gz: no lattices (decode first: steps_py/decode.py)")

    def job(p: str) -> int:
        m = re.search(r"lat\.(\d+)\.gz$", p)
        return int(m.group(1)) if m else 0
    return sorted(files, key=job)


def sweep_hypotheses(decode_dir: PathLike, id2word: Sequence[str], lmwts: Sequence[int],
                     wips: Sequence[float]) -> Dict[Tuple[int, float], Dict[str, str]]:
    """Best-path hypotheses (words) per (LMWT, WIP) for every lattice of ``decode_dir``."""
    out: Dict[Tuple[int, float], Dict[str, str]] = {(l, w): {} for l in lmwts for w in wips}
    for path in lattice_files(decode_dir):
        for utt, clat in read_compact_lattices(path):
            order = topological_order(clat.arcs, clat.start)
            for lmwt in lmwts:
                for wip in wips:
                    bp = best_path(clat, acoustic_scale=1.0 / lmwt, word_penalty=wip, order=order)
                    words = [] if bp is None else bp.words
                    try:
                        out[(lmwt, wip)][utt] = " ".join(id2word[w] for w in words)
                    except IndexError:
                        raise ScoringError(f"{path}: utterance '{utt}' has a word id outside "
                                           f"words.txt ({max(words)})") from None
    return out


def _filter(text: str, ignore: Sequence[str]) -> str:
    return " ".join(w for w in text.split() if w not in ignore) if ignore else text


def _text_lines(texts: Mapping[str, str]) -> str:
    return "".join(f"{u} {texts[u]}\n".replace(" \n", "\n") for u in sorted(texts))


def per_utt_details(alignments: Mapping[str, UttAlignment]) -> str:
    """Kaldi ``wer_details/per_utt`` text (ref/hyp/op/#csid lines) from sclite's own
    alignments, so its counts are sclite's (they sum to ``best_wer`` by construction)."""
    lines = []
    for u in sorted(alignments):
        a = alignments[u]
        c = a.counts
        lines += [f"{u} ref  " + "  ".join(a.ref), f"{u} hyp  " + "  ".join(a.hyp),
                  f"{u} op  " + "  ".join(a.ops),
                  f"{u} #csid {c.ref_words - c.subs - c.dels} {c.subs} {c.ins} {c.dels}"]
    return "\n".join(lines) + "\n"


def read_per_utt(path: PathLike) -> Dict[str, ErrorCounts]:
    """Per-utterance counts from a Kaldi ``per_utt`` file (its ``#csid`` lines)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if len(f) == 6 and f[1] == "#csid":
            c, s, i, d = (int(x) for x in f[2:])
            out[f[0]] = ErrorCounts(i, d, s, c + s + d, 1, int(s + i + d > 0))
    return out


def score_decode_dir(data_dir: PathLike, lang_or_graph_dir: PathLike, decode_dir: PathLike,
                     config: Optional[ScoringConfig] = None) -> ScoringSummary:
    """Run the LMWT × WIP sweep with sclite on ``decode_dir``'s lattices (see module doc).

    Raises:
        ScoringError: naming the missing or malformed input.
    """
    cfg = config or ScoringConfig()
    decode_dir = Path(decode_dir)
    sdir = decode_dir / "scoring_kaldi"
    refs = {u: _filter(t, cfg.ignore_words) for u, t in read_kaldi_text(Path(data_dir) / "text").items()}
    utt2spk = read_utt2spk(data_dir)
    utt2spk = {u: utt2spk.get(u, u) for u in refs}
    id2word = read_words(lang_or_graph_dir)
    lmwts = list(range(cfg.min_lmwt, cfg.max_lmwt + 1))
    wips = [float(w) for w in cfg.word_ins_penalties]
    hyps_all = sweep_hypotheses(decode_dir, id2word, lmwts, wips)
    decoded = set().union(*(set(h) for h in hyps_all.values()))
    missing = sorted(set(refs) - decoded)
    if missing:
        logger.warning("%d utterances of %s/text have no lattice (scored as deletions), e.g. %s",
                       len(missing), data_dir, missing[0])
    write_text_atomic(sdir / "test_filt.txt", _text_lines(refs))
    write_trn(sdir / "ref.trn", refs, utt2spk)
    sweep: Dict[str, ErrorCounts] = {}
    results = {}
    for (lmwt, wip), hyps in hyps_all.items():
        hyps = {u: _filter(hyps.get(u, ""), cfg.ignore_words) for u in refs}
        pdir = sdir / f"penalty_{wip_str(wip)}"
        write_text_atomic(pdir / f"{lmwt}.txt", _text_lines(hyps))
        write_trn(pdir / f"{lmwt}.trn", hyps, utt2spk)
        name = f"wer_{lmwt}_{wip_str(wip)}"
        res = run_sclite(sdir / "ref.trn", pdir / f"{lmwt}.trn", sdir / "sclite", name,
                         utt2spk=utt2spk)
        write_text_atomic(decode_dir / name, res.total.kaldi_line() + "\n")
        sweep[f"{lmwt}_{wip_str(wip)}"] = res.total
        results[(lmwt, wip)] = (res, hyps)
    (lmwt, wip) = min(results, key=lambda k: (results[k][0].total.wer, k[0], k[1]))
    res, _ = results[(lmwt, wip)]
    write_text_atomic(sdir / "best_wer", f"{res.total.kaldi_line()} {decode_dir}/wer_{lmwt}_{wip_str(wip)}\n")
    # every detail below comes from the one sclite run that best_wer reports
    ddir = sdir / "wer_details"
    write_text_atomic(ddir / "per_utt", per_utt_details(res.alignments))
    write_text_atomic(ddir / "lmwt", f"{lmwt}\n")
    write_text_atomic(ddir / "wip", f"{wip_str(wip)}\n")
    write_text_atomic(ddir / "per_spk", "".join(
        f"{spk} #sent {c.sentences} #words {c.ref_words} sub {c.subs} del {c.dels} ins {c.ins} "
        f"err {c.errors} wer {c.wer:.2f}\n" for spk, c in sorted(res.speakers.items())))
    ci = bootstrap_wer_ci(res.utterances, replications=cfg.replications)
    write_text_atomic(ddir / "wer_ci.json", json.dumps(
        {"wer": ci.wer, "ci95_low": ci.low, "ci95_high": ci.high, "lmwt": lmwt, "wip": wip,
         "replications": cfg.replications, "num_utts": len(refs)}, indent=1) + "\n")
    return ScoringSummary(lmwt, wip, res.total, ci.low, ci.high, sweep)


def read_best(decode_dir: PathLike) -> Tuple[ErrorCounts, str]:
    """(counts, wer file name) from ``scoring_kaldi/best_wer`` (or ``scoring/best_wer``)."""
    for sub in ("scoring_kaldi", "scoring"):
        path = Path(decode_dir) / sub / "best_wer"
        if path.is_file():
            line = path.read_text().strip()
            from kaldi_kd.score.wer import parse_kaldi_line
            return parse_kaldi_line(line), line.split()[-1]
    raise ScoringError(f"{decode_dir}/scoring_kaldi/best_wer: expected file to exist (score the decode dir first: steps_py/score.py)")
