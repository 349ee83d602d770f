"""LDA and MLLT feature transforms: ``acc-lda``/``est-lda``, ``gmm-acc-mllt``/``est-mllt``
and ``gmm-transform-means``, vectorised in numpy.

- LDA: classes are pdf-ids of the alignment; silence frames get weight 0 (as
  ``weight-silence-post 0.0`` in train_lda_mllt.sh).  With W the within-class and B
  the between-class covariance, W = L L^T, the transform is M = U^T L^-1 where U are
  the leading eigenvectors of L^-1 B L^-T: transformed features have unit
  within-class covariance (Kaldi's LdaEstimate::Estimate).  No offset column.
- MLLT (semi-tied covariance, Gales 1999): statistics
  G_i = sum_t sum_m gamma_tm (x_t - mu_m)(x_t - mu_m)^T / var_mi, beta = sum gamma;
  the square matrix A maximises beta log|det A| - 1/2 sum_i a_i G_i a_i^T, updated
  row by row (a_i = c_i G_i^-1 sqrt(beta / c_i G_i^-1 c_i^T), c_i the cofactor row),
  10 passes as Kaldi's MlltAccs::Update.  Model means are then transformed by A and
  the feature transform composed: A M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Tuple

import numpy as np

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import InputError, MissingFileError
from kaldi_kd.gmm.stats import component_loglikes, pdf_params
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm


def silence_frame_weights(trans_model, ali: np.ndarray, silence_phones: Sequence[int]) -> np.ndarray:
    """1.0 per frame, 0.0 for frames of ``silence_phones`` (weight-silence-post 0.0)."""
    phones = np.array([trans_model.transition_id_to_phone(int(t)) for t in ali])
    return np.where(np.isin(phones, np.asarray(silence_phones)), 0.0, 1.0)


@dataclass
class LdaStats:
    """acc-lda statistics: per-class counts and sums, total scatter."""

    count: np.ndarray
    sums: np.ndarray
    scatter: np.ndarray

    @classmethod
    def zeros(cls, num_classes: int, dim: int) -> "LdaStats":
        return cls(np.zeros(num_classes), np.zeros((num_classes, dim)), np.zeros((dim, dim)))

    def accumulate(self, feats: np.ndarray, classes: np.ndarray, weights: np.ndarray) -> None:
        """Add frames ``feats`` (N, D) of ``classes`` (N,) with ``weights`` (N,)."""
        x = np.asarray(feats, np.float64)
        w = np.asarray(weights, np.float64)
        self.count += np.bincount(classes, weights=w, minlength=len(self.count))
        np.add.at(self.sums, classes, x * w[:, None])
        self.scatter += (x * w[:, None]).T @ x


def estimate_lda(stats: LdaStats, dim: int) -> np.ndarray:
    """est-lda: the (dim, D) LDA matrix (within-class covariance -> identity)."""
    n = stats.count.sum()
    if n <= 0:
        raise InputError("no (non-silence) frames for LDA")
    d = stats.sums.shape[1]
    if dim > d:
        raise InputError(f"LDA dim {dim} larger than the feature dim {d}")
    mean = stats.sums.sum(axis=0) / n
    total = stats.scatter / n - np.outer(mean, mean)
    seen = stats.count > 0
    mu = stats.sums[seen] / stats.count[seen][:, None]
    between = ((mu - mean).T * stats.count[seen]) @ (mu - mean) / n
    within = total - between
    within += 1e-10 * np.trace(within) / d * np.eye(d)
    l_inv = np.linalg.inv(np.linalg.cholesky(within))
    b = l_inv @ between @ l_inv.T
    evals, evecs = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(evals)[::-1][:dim]
    return evecs[:, order].T @ l_inv


@dataclass
class MlltStats:
    """gmm-acc-mllt statistics: beta (frames) and G (D, D, D)."""

    beta: float
    G: np.ndarray

    @classmethod
    def zeros(cls, dim: int) -> "MlltStats":
        return cls(0.0, np.zeros((dim, dim, dim)))

    def accumulate(self, am_gmm, feats: np.ndarray, pdfs: np.ndarray, weights: np.ndarray) -> None:
        """Add frames with their pdf-ids; Gaussian posteriors from ``am_gmm``."""
        x_all = np.asarray(feats, np.float64)
        params = pdf_params(am_gmm)
        keep = weights > 0
        x_all, pdfs, weights = x_all[keep], np.asarray(pdfs)[keep], np.asarray(weights)[keep]
        for pdf in np.unique(pdfs).tolist():
            sel = pdfs == pdf
            x, w = x_all[sel], weights[sel]
            ll = component_loglikes(x, params[pdf])
            ll -= ll.max(axis=1, keepdims=True)
            post = np.exp(ll)
            post *= (w / post.sum(axis=1))[:, None]
            _, mi, iv = params[pdf]
            means = mi / iv
            for m in range(post.shape[1]):
                diff = x - means[m]
                s = (diff * post[:, m:m + 1]).T @ diff
                self.G += iv[m][:, None, None] * s[None]
            self.beta += float(w.sum())

    def save(self, path) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, beta=np.array(self.beta), G=self.G)

    @classmethod
    def load_and_sum(cls, paths: Iterable) -> "MlltStats":
        total = None
        for p in paths:
            if not Path(p).is_file():
                raise MissingFileError(p)
            with np.load(p) as z:
                s = cls(float(z["beta"]), z["G"])
            if total is None:
                total = s
            else:
                total.beta += s.beta
                total.G += s.G
        if total is None:
            raise ValueError("no MLLT statistics")
        return total


def mllt_objf(a: np.ndarray, stats: MlltStats) -> float:
    """Per-frame auxiliary objective log|det A| - 1/(2 beta) sum_i a_i G_i a_i^T."""
    quad = np.einsum("ia,iab,ib->", a, stats.G, a)
    return math.log(abs(np.linalg.det(a))) - 0.5 * quad / stats.beta


def estimate_mllt(stats: MlltStats, num_iters: int = 10) -> Tuple[np.ndarray, float, float]:
    """est-mllt: (A, objf before, objf after) per frame, starting from A = I."""
    d = stats.G.shape[0]
    a = np.eye(d)
    g_inv = np.linalg.inv(stats.G)
    before = mllt_objf(a, stats)
    for _ in range(num_iters):
        for i in range(d):
            cof = np.linalg.inv(a).T[i] * np.linalg.det(a)   # cofactor row i
            v = cof @ g_inv[i]
            a[i] = v * math.sqrt(stats.beta / float(v @ cof))
    return a, before, mllt_objf(a, stats)


def transform_means(am_gmm, a: np.ndarray):
    """gmm-transform-means: a new AmDiagGmm with mu -> A mu (variances kept)."""
    state = list(am_gmm.__getstate__())
    a = np.asarray(a, np.float64)
    for k in range(0, len(state), 3):
        inv_vars = np.asarray(state[k + 1], np.float64)
        means = np.asarray(state[k + 2], np.float64) / inv_vars
        state[k + 2] = ((means @ a.T) * inv_vars).astype(np.float32)
    out = kaldi_hmm_gmm.AmDiagGmm.__new__(kaldi_hmm_gmm.AmDiagGmm)
    out.__setstate__(tuple(state))
    return out
