"""Compare scored decode directories: a RESULTS-style table with CIs and paired tests.

For each decode dir (scored by ``steps_py/score.py`` or Kaldi's score_kaldi.sh)
the best ``%WER`` comes from ``scoring_kaldi/best_wer`` and the per-utterance
counts from ``scoring_kaldi/wer_details/per_utt``; the CI is a bootstrap over
utterances, and each system after the first is compared with the first by a
paired bootstrap (CI of the WER difference; P(better)).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

from kaldi_kd.score.ci import PairedComparison, bootstrap_wer_ci, paired_bootstrap
from kaldi_kd.score.score_dir import read_best, read_per_utt
from kaldi_kd.score.wer import ErrorCounts

PathLike = Union[str, os.PathLike]


@dataclass
class SystemRow:
    name: str
    best: ErrorCounts
    wer_file: str
    ci: Optional[tuple]
    paired: Optional[PairedComparison]


def _lmwt_wip(wer_file: str) -> str:
    m = re.search(r"wer_(\d+)_([\d.]+)$", wer_file)
    return f"{m.group(1)}/{m.group(2)}" if m else "-"


def compare_systems(decode_dirs: Sequence[PathLike], replications: int = 1000) -> List[SystemRow]:
    """Rows for :func:`format_table`; the first dir is the baseline of paired tests."""
    rows, base = [], None
    for d in decode_dirs:
        best, wer_file = read_best(d)
        per_utt = Path(d) / "scoring_kaldi" / "wer_details" / "per_utt"
        counts = read_per_utt(per_utt) if per_utt.is_file() else {}
        ci = None
        paired = None
        if counts:
            c = bootstrap_wer_ci(counts, replications=replications)
            ci = (c.low, c.high)
            if base is None:
                base = counts
            else:
                paired = paired_bootstrap(base, counts, replications=replications)
        rows.append(SystemRow(str(d), best, wer_file, ci, paired))
    return rows


def format_table(rows: Sequence[SystemRow]) -> str:
    """A fixed-width table: system, %WER [errors / words], 95 % CI, best LMWT/WIP,
    and the paired difference to the first system."""
    name_w = max([len(r.name) for r in rows] + [6])
    head = f"{'system':<{name_w}}  {'%WER':>6}  {'errors/words':>13}  {'95% CI':>15}  {'LMWT/WIP':>8}  WER - first [95% CI] P(better)"
    lines = [head, "-" * len(head)]
    for r in rows:
        ci = f"[{r.ci[0]:.2f}, {r.ci[1]:.2f}]" if r.ci else "-"
        vs = "-"
        if r.paired is not None:
            p = r.paired
            vs = f"{-p.diff:+.2f} [{-p.high:+.2f}, {-p.low:+.2f}] {p.prob_b_better:.3f}"
        lines.append(f"{r.name:<{name_w}}  {r.best.wer:6.2f}  {r.best.errors:>6}/{r.best.ref_words:<6}  "
                     f"{ci:>15}  {_lmwt_wip(r.wer_file):>8}  {vs}")
    return "\n".join(lines)
