"""Loader-side feature transforms with Kaldi's arithmetic: CMVN, deltas, splicing.

Each takes and returns a float32 (T, D) matrix; the work is done by
kaldi_native_fbank (the same code as Kaldi's apply-cmvn, add-deltas, splice-feats).
"""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np

from kaldi_kd.errors import InputError


def _as_feats(feats: np.ndarray) -> np.ndarray:
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    if feats.ndim != 2:
        raise ValueError(f"features must be a (T, D) matrix, got shape {feats.shape}")
    return feats


def cmvn_stats(feats: np.ndarray) -> np.ndarray:
    """Kaldi CMVN stats of one matrix: (2, D+1) float64, row 0 = sums + count, row 1 = squares."""
    return np.asarray(knf.compute_cmvn_stats(_as_feats(feats)), dtype=np.float64)


def apply_cmvn(feats: np.ndarray, cmvn_stats: np.ndarray, norm_vars: bool = False) -> np.ndarray:
    """Apply Kaldi CMVN stats (as in ``apply-cmvn``): subtract the mean, optionally divide by std.

    Args:
        feats: (T, D) features.
        cmvn_stats: (2, D+1) (or (1, D+1) without ``norm_vars``) Kaldi stats.
        norm_vars: also normalise variances.

    Returns:
        float32 (T, D) normalised copy.

    Raises:
        ValueError: if the stats dimension does not match the features or the count is 0.
    """
    feats = _as_feats(feats)
    stats = np.ascontiguousarray(cmvn_stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[1] != feats.shape[1] + 1 or stats.shape[0] not in (1, 2):
        raise InputError(f"CMVN stats of shape {stats.shape} do not fit features of dim {feats.shape[1]} "
                         f"(need (2, {feats.shape[1] + 1}))")
    if stats[0, -1] < 1.0:
        raise InputError(f"CMVN stats have a frame count of {stats[0, -1]} (< 1)")
    if norm_vars and stats.shape[0] != 2:
        raise ValueError("norm_vars needs 2-row CMVN stats")
    opts = knf.CmvnOptions()
    opts.norm_vars = norm_vars
    return np.asarray(knf.apply_cmvn(stats, opts, feats), dtype=np.float32)


def add_deltas(feats: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Append delta features like Kaldi's ``add-deltas`` (default window 2).

    Returns:
        float32 (T, D * (order + 1)): [x, delta, delta-delta, ...].
    """
    feats = _as_feats(feats)
    if order == 0:
        return feats.copy()
    opts = knf.DeltaOptions()
    opts.order, opts.window = order, window
    return np.asarray(knf.compute_deltas(opts, feats), dtype=np.float32)


def splice(feats: np.ndarray, left: int, right: int) -> np.ndarray:
    """Splice each frame with ``left``/``right`` neighbours (edges replicated), like ``splice-feats``.

    Returns:
        float32 (T, D * (1 + left + right)).
    """
    feats = _as_feats(feats)
    if left < 0 or right < 0:
        raise ValueError(f"splice contexts must be >= 0, got left={left} right={right}")
    if left == 0 and right == 0:
        return feats.copy()
    opts = knf.SpliceOptions()
    opts.left_context, opts.right_context = left, right
    return np.asarray(knf.splice_frames(feats, opts), dtype=np.float32)
