"""Bootstrap confidence intervals of WER and paired system comparison (Bisani & Ney 2004).

Utterances are resampled with replacement; a replicate's WER is
sum(errors) / sum(reference words) over the resampled utterances.  The 95 % CI is
the 2.5/97.5 percentile interval.  For two systems scored on the same utterances,
the same resample is applied to both (paired bootstrap), giving a CI of the WER
difference and the probability that system B is better than A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence, Tuple

import numpy as np

from kaldi_kd.score.wer import ErrorCounts


@dataclass
class WerCI:
    """A WER point estimate (percent) with its bootstrap 95 % interval."""

    wer: float
    low: float
    high: float


@dataclass
class PairedComparison:
    """WER(A) - WER(B) in percent points with its 95 % CI and P(B better than A)."""

    diff: float
    low: float
    high: float
    prob_b_better: float
    num_utts: int


def _arrays(counts: Mapping[str, ErrorCounts], utts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    err = np.array([counts[u].errors for u in utts], dtype=np.float64)
    ref = np.array([counts[u].ref_words for u in utts], dtype=np.float64)
    return err, ref


def _resample_index(n: int, replications: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(replications, n))


def bootstrap_wer_ci(counts: Mapping[str, ErrorCounts], replications: int = 1000,
                     seed: int = 0, level: float = 0.95) -> WerCI:
    """WER with a percentile bootstrap CI over utterances.

    Args:
        counts: per-utterance error counts.
    """
    utts = sorted(counts)
    err, ref = _arrays(counts, utts)
    point = 100.0 * err.sum() / max(ref.sum(), 1.0)
    if len(utts) == 0:
        return WerCI(point, point, point)
    idx = _resample_index(len(utts), replications, seed)
    reps = 100.0 * err[idx].sum(1) / np.maximum(ref[idx].sum(1), 1.0)
    lo, hi = np.percentile(reps, [50 * (1 - level), 100 - 50 * (1 - level)])
    return WerCI(point, float(min(lo, point)), float(max(hi, point)))


def paired_bootstrap(counts_a: Mapping[str, ErrorCounts], counts_b: Mapping[str, ErrorCounts],
                     replications: int = 1000, seed: int = 0, level: float = 0.95) -> PairedComparison:
    """Paired bootstrap of WER(A) - WER(B) over the utterances both systems scored.

    Raises:
        ValueError: when the systems share no utterance.
    """
    utts = sorted(set(counts_a) & set(counts_b))
    if not utts:
        raise ValueError("the two systems have no utterance in common")
    ea, ra = _arrays(counts_a, utts)
    eb, rb = _arrays(counts_b, utts)
    diff = 100.0 * (ea.sum() / max(ra.sum(), 1.0) - eb.sum() / max(rb.sum(), 1.0))
    idx = _resample_index(len(utts), replications, seed)
    reps = 100.0 * (ea[idx].sum(1) / np.maximum(ra[idx].sum(1), 1.0)
                    - eb[idx].sum(1) / np.maximum(rb[idx].sum(1), 1.0))
    lo, hi = np.percentile(reps, [50 * (1 - level), 100 - 50 * (1 - level)])
    return PairedComparison(float(diff), float(lo), float(hi), float(np.mean(reps > 0)), len(utts))
