"""LDA and MLLT estimation on synthetic data."""

from __future__ import annotations

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm
from kaldi_kd.gmm.lda_mllt import (LdaStats, MlltStats, estimate_lda, estimate_mllt, mllt_objf,
                                   transform_means)


def test_lda_whitens_within_class_and_keeps_discriminant_dims():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 5, 5000)
    means = np.zeros((5, 6))
    means[:, 0] = np.arange(5) * 3.0          # only dimension 0 separates the classes
    x = means[classes] + rng.normal(size=(5000, 6)) * np.array([1, 2, 1, 1, 3, 1])
    st = LdaStats.zeros(5, 6)
    st.accumulate(x, classes, np.ones(5000))
    m = estimate_lda(st, 2)
    assert m.shape == (2, 6)
    y = x @ m.T
    within = np.mean([np.cov(y[classes == c].T) for c in range(5)], axis=0)
    np.testing.assert_allclose(within, np.eye(2), atol=0.15)
    assert abs(m[0, 0]) / np.abs(m[0]).sum() > 0.9   # first direction = dimension 0


def test_mllt_increases_objective_and_transforms_means():
    rng = np.random.default_rng(1)
    d = 4
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
    am = kaldi_hmm_gmm.AmDiagGmm()
    g = kaldi_hmm_gmm.DiagGmm(1, d)
    g.set_weights(np.ones(1, np.float32))
    g.set_invvars_and_means(np.ones((1, d), np.float32), np.zeros((1, d), np.float32))
    g.compute_gconsts()
    am.add_pdf(g)
    # correlated data: diagonal Gaussians fit badly until rotated
    x = (rng.normal(size=(4000, d)) * np.array([3.0, 1.0, 0.5, 0.2])) @ rot.T
    st = MlltStats.zeros(d)
    st.accumulate(am, x, np.zeros(4000, int), np.ones(4000))
    assert st.beta == 4000
    a, before, after = estimate_mllt(st)
    assert after > before + 0.5
    assert mllt_objf(a, st) == after
    y = x @ a.T
    cov = np.cov(y.T)
    off = cov - np.diag(np.diag(cov))
    assert np.abs(off).max() < 0.1 * np.abs(np.diag(cov)).min() + 0.05
    g2 = kaldi_hmm_gmm.DiagGmm(1, d)
    g2.set_weights(np.ones(1, np.float32))
    mean = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    g2.set_invvars_and_means(np.full((1, d), 2.0, np.float32), mean)
    g2.compute_gconsts()
    am.add_pdf(g2)
    am2 = transform_means(am, a)
    assert am2.num_pdfs == 2 and am2.dim == d
    np.testing.assert_allclose(am2.get_pdf(1).means[0], a @ mean[0], rtol=1e-5)
    np.testing.assert_allclose(am2.get_pdf(1).inv_vars, am.get_pdf(1).inv_vars)
