"""KD losses and the KD objective: exactness at alpha = 0 / lambda = 0, KL properties, top-k."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kaldi_kd.kd.losses import (
    IGNORE_INDEX,
    ce_loss,
    interp_ce_loss,
    interpolated_targets,
    kd_loss,
    kl_divergence,
)
from kd_fakes import make_soft_targets, topk_soft_targets

torch.set_num_threads(1)


def _probs(B=2, T=7, V=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(B, T, V, generator=g) * 2, -1)


def test_kd_loss_zero_when_p_equals_q_and_positive_otherwise():
    tau = 2.0
    q = _probs()
    logits = torch.log(q) * tau  # softmax(logits / tau) == q
    st = make_soft_targets(probs=q)
    assert kd_loss(logits, st, tau).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn_like(logits)
    assert kd_loss(other, st, tau).item() > 1e-3


def test_kd_loss_is_tau_squared_kl_over_masked_frames():
    q, logits, tau = _probs(), torch.randn(2, 7, 11), 3.0
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    st = make_soft_targets(probs=q, mask=mask)
    log_p = F.log_softmax(logits / tau, -1)
    kl = (q * (q.log() - log_p)).sum(-1)
    expected = kl[mask].mean() * tau**2
    assert kd_loss(logits, st, tau).item() == pytest.approx(expected.item(), rel=1e-5)
    # a batch mask on top of the soft-target mask
    bmask = mask.clone()
    bmask[0, :3] = False
    assert kd_loss(logits, st, tau, bmask).item() == pytest.approx(kl[bmask].mean().item() * tau**2, rel=1e-5)


def test_kd_loss_no_valid_frames_is_zero_and_differentiable():
    logits = torch.randn(1, 3, 5, requires_grad=True)
    st = make_soft_targets(probs=_probs(1, 3, 5), mask=torch.zeros(1, 3, dtype=torch.bool))
    loss = kd_loss(logits, st, 1.0)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


def test_topk_equals_dense_when_k_is_vocab():
    q, logits = _probs(V=9), torch.randn(2, 7, 9)
    dense = make_soft_targets(probs=q)
    sparse = topk_soft_targets(q, k=9)
    for tau in (1.0, 2.5):
        assert kd_loss(logits, sparse, tau).item() == pytest.approx(kd_loss(logits, dense, tau).item(), rel=1e-5)


def test_topk_kl_over_renormalised_support():
    q, logits = _probs(V=9), torch.randn(2, 7, 9)
    st = topk_soft_targets(q, k=3)
    vals, idx = st.topk_values / st.topk_values.sum(-1, keepdim=True), st.topk_indices
    log_p = F.log_softmax(logits, -1).gather(-1, idx)
    expected = (vals * (vals.log() - log_p)).sum(-1).mean()
    assert kl_divergence(logits, st).item() == pytest.approx(expected.item(), rel=1e-5)
    assert kl_divergence(logits, st).item() > 0


def test_interp_alpha_zero_is_exactly_ce():
    logits = torch.randn(2, 7, 11)
    targets = torch.randint(0, 11, (2, 7))
    targets[1, 5:] = IGNORE_INDEX
    st = make_soft_targets(probs=_probs())
    plain = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1), ignore_index=IGNORE_INDEX)
    assert torch.equal(interp_ce_loss(logits, targets, st, 0.0), ce_loss(logits, targets))
    assert torch.allclose(ce_loss(logits, targets), plain, rtol=1e-6)


def test_interp_equals_soft_ce_against_interpolated_target():
    logits = torch.randn(2, 7, 11)
    targets = torch.randint(0, 11, (2, 7))
    targets[0, 6] = IGNORE_INDEX
    smask = torch.ones(2, 7, dtype=torch.bool)
    smask[1, 0] = False  # no soft target: one-hot only
    st = make_soft_targets(probs=_probs(), mask=smask)
    alpha = 0.3
    tgt = interpolated_targets(targets, st, alpha, 11)
    valid = targets != IGNORE_INDEX
    sums = tgt.sum(-1)
    assert torch.allclose(sums[valid], torch.ones(int(valid.sum())), atol=1e-6)
    assert torch.all(tgt >= 0) and torch.all(sums[~valid] == 0)
    expected = -(tgt * F.log_softmax(logits, -1)).sum(-1)[valid].mean()
    assert interp_ce_loss(logits, targets, st, alpha).item() == pytest.approx(expected.item(), rel=1e-5)
    # alpha = 1 on a frame with a soft target is the pure soft CE
    assert torch.allclose(interpolated_targets(targets, st, 1.0, 11)[0, 0], st.probs[0, 0])
    # top-k soft targets give the same loss as their dense scatter
    sp = topk_soft_targets(st.probs, k=11, mask=smask)
    assert interp_ce_loss(logits, targets, sp, alpha).item() == pytest.approx(expected.item(), rel=1e-5)


def test_interp_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        interp_ce_loss(torch.randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long), None, 1.5)


def _reference_frame_kl(logits, q, tau, idx=None):
    """KL through autograd's own ops, for checking the fused backward."""
    log_p = F.log_softmax(logits / tau, dim=-1)
    if idx is not None:
        log_p = log_p.gather(-1, idx)
    return (torch.special.xlogy(q, q) - q * log_p).sum(-1)


@pytest.mark.parametrize("k", [None, 4])
def test_fused_kl_gradient_matches_autograd_and_finite_differences(k):
    from kaldi_kd.kd.losses import frame_kl

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 5, 9, dtype=torch.double, generator=g, requires_grad=True)
    q = torch.softmax(torch.randn(2, 5, 9, dtype=torch.double, generator=g), -1)
    st = make_soft_targets(q) if k is None else topk_soft_targets(q, k)
    tau = 2.0
    assert torch.autograd.gradcheck(lambda z: frame_kl(z, st, tau), (logits,))
    weights = torch.rand(2, 5, dtype=torch.double, generator=g)
    got = torch.autograd.grad((frame_kl(logits, st, tau) * weights).sum(), logits)[0]
    qv = q if k is None else st.topk_values.double()
    idx = None if k is None else st.topk_indices
    want = torch.autograd.grad((_reference_frame_kl(logits, qv, tau, idx) * weights).sum(), logits)[0]
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(frame_kl(logits, st, tau), _reference_frame_kl(logits, qv, tau, idx), atol=1e-6)
