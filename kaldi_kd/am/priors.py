"""Senone priors for hybrid decoding -> floored, normalised log priors.

Decoding uses scaled likelihoods ``log p(pdf|x) - log p(pdf)``.  Two sources, both
written in Kaldi's text vector form (``[ c0 c1 ... ]``) beside the model:

- ``prior_counts``: pdf counts of the training alignments (nnet1/nnet2 style);
- ``post_prior_counts``: the trained model's posteriors summed over a spread subset of
  training utterances (what Kaldi's nnet3 ``adjust_priors`` does with ``post.vec``).

The second is the prior the model's outputs actually carry.  It matters when the main
head trains on soft targets (label interpolation): the teacher's q gives pdfs that are
rare in the alignments some posterior mass, and dividing that mass by an alignment prior
near the floor turns a rare silence state into the best-scoring pdf of every silent
frame.  :func:`prior_file` picks the posterior counts when they exist.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import torch

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import InputError, MissingFileError

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
        raise InputError(f"{path}: expected a Kaldi text vector '[ c0 c1 ... ]'")
    try:
        return np.array([float(x) for x in text[1:-1]], dtype=np.float64)
    except ValueError as err:
        raise InputError(f"{path}: non-numeric entry in prior counts: {err}") from None


POSTERIOR_PRIORS = "post_prior_counts"
ALIGNMENT_PRIORS = "prior_counts"


def prior_file(am_dir: PathLike, source: str = "auto") -> Path:
    """The prior-count file of ``am_dir`` for ``source`` (posterior | alignment | auto).

    ``auto``: ``post_prior_counts`` when it exists, else ``prior_counts``.

    Raises:
        FileNotFoundError: naming the missing file and the step that writes it.
    """
    d = Path(am_dir)
    if source not in ("auto", "posterior", "alignment"):
        raise InputError(f"prior source must be auto, posterior or alignment, got {source!r}")
    post, ali = d / POSTERIOR_PRIORS, d / ALIGNMENT_PRIORS
    if source == "posterior" or (source == "auto" and post.is_file()):
        if not post.is_file():
            raise MissingFileError(post, "steps_py/compute_priors.py writes it")
        return post
    if not ali.is_file():
        raise MissingFileError(ali, "steps_py/train_am.py writes it")
    return ali


def log_priors(counts: np.ndarray, floor: float = 1e-8) -> torch.Tensor:
    """log of ``normalise(max(counts / sum, floor))`` as a float32 tensor (P,).

    Raises:
        ValueError: when the counts are empty or sum to zero.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if counts.size == 0 or total <= 0:
        raise InputError("prior counts are empty or sum to zero")
    p = np.maximum(counts / total, floor)
    p = p / p.sum()
    return torch.from_numpy(np.log(p)).float()
