"""Senone priors for hybrid decoding: counts from alignments -> floored, normalised log priors.

Decoding uses scaled likelihoods ``log p(pdf|x) - log p(pdf)``.  Counts are written as
``exp/<am>/prior_counts`` in Kaldi's text vector form (``[ c0 c1 ... ]``), the file
Kaldi's nnet3 recipes keep beside the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import torch

from kaldi_kd.data.atomic import write_text_atomic

PathLike = Union[str, os.PathLike]


def write_prior_counts(path: PathLike, counts: np.ndarray) -> None:
    """Write counts as a Kaldi text vector ``[ c0 c1 ... ]`` (atomically)."""
    body = " ".join(f"{c:.10g}" for c in np.asarray(counts, dtype=np.float64))
    write_text_atomic(path, f" [ {body} ]\n")


def read_prior_counts(path: PathLike) -> np.ndarray:
    """Read a Kaldi text vector.

    Raises:
        ValueError: naming the file when it is not ``[ numbers ]``.
    """
    text = Path(path).read_text().split()
    if len(text) < 2 or text[0] != "[" or text[-1] != "]":
        raise ValueError(f"{path}: expected a Kaldi text vector '[ c0 c1 ... ]'")
    try:
        return np.array([float(x) for x in text[1:-1]], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: non-numeric entry in prior counts: {err}") from None


def log_priors(counts: np.ndarray, floor: float = 1e-8) -> torch.Tensor:
    """log of ``normalise(max(counts / sum, floor))`` as a float32 tensor (P,).

    Raises:
        ValueError: when the counts are empty or sum to zero.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if counts.size == 0 or total <= 0:
        raise ValueError("prior counts are empty or sum to zero")
    p = np.maximum(counts / total, floor)
    p = p / p.sum()
    return torch.from_numpy(np.log(p)).float()
