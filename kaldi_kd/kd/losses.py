"""Distillation losses: KD to an auxiliary head, and label interpolation on the main head.

Soft targets come from :class:`kaldi_kd.kd.soft_targets.SoftTargets` (duck-typed here:
``probs`` (B, T', V) dense or None, ``topk_values``/``topk_indices`` (B, T', k) or None,
``mask`` (B, T') bool). Every loss is a mean over the frames that are valid in both the
batch mask and the soft-target mask; with no valid frame it is an exact, differentiable 0.

- :func:`kd_loss` = tau^2 * KL(q || p_tau), p_tau = softmax(logits / tau).
  Top-k targets: q renormalised on its kept support S, KL = sum_{i in S} q_i (log q_i -
  log p_tau,i) with p_tau the full softmax over V (so the student is also pushed to put no
  mass outside S); with k = V this is the dense KL.
- :func:`interp_ce_loss` = soft cross-entropy of the main head against
  (1 - alpha) * onehot(y) + alpha * q, computed as (1 - alpha) * CE(y) + alpha * CE(q) per
  frame (linearity); alpha = 0 returns ``F.cross_entropy`` itself. Frames without a soft
  target fall back to the one-hot target.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

from kaldi_kd.am.objective import frame_ce

IGNORE_INDEX = -100


def _valid_mask(soft_targets: Any, mask: Optional[torch.Tensor], shape: torch.Size) -> torch.Tensor:
    """Frames with a soft target that are also valid in ``mask`` (B, T')."""
    valid = soft_targets.mask.bool()
    if valid.shape != shape:
        raise ValueError(f"soft-target mask {tuple(valid.shape)} does not match logits frames {tuple(shape)}")
    if mask is not None:
        valid = valid & mask.bool()
    return valid


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B, T') over ``valid`` frames; 0 (keeping the graph) when none."""
    count = valid.sum()
    total = torch.where(valid, values, torch.zeros_like(values)).sum()
    return total / count.clamp(min=1).to(values.dtype)


def _topk_support(soft_targets: Any) -> "tuple[torch.Tensor, torch.Tensor]":
    """(values renormalised to sum 1, indices) of a top-k SoftTargets."""
    values = soft_targets.topk_values.float()
    values = values / values.sum(-1, keepdim=True).clamp(min=1e-30)
    return values, soft_targets.topk_indices.long()


def _is_dense(soft_targets: Any) -> bool:
    return getattr(soft_targets, "probs", None) is not None


class _SoftmaxKL(torch.autograd.Function):
    """Per-frame KL(q || softmax(z / tau)) with a hand-written backward.

    Forward keeps one (B, T', V) tensor, p = softmax(z / tau), and nothing else; backward
    is one fused pass, dKL/dz = (p * sum(q) - q) / tau (q scattered onto its top-k support
    when sparse).  Autograd through log_softmax, gather and the product would take about
    three times the elementwise passes over the V-wide tensors, which is most of what an
    auxiliary head's loss costs beyond its matmul.
    """

    @staticmethod
    def forward(ctx, logits, q, idx, tau, neg_entropy):  # type: ignore[override]
        log_p = torch.log_softmax(logits.detach().to(q.dtype) / tau, dim=-1)  # float32 at least
        support = log_p if idx is None else log_p.gather(-1, idx)
        if neg_entropy is None:
            neg_entropy = torch.special.xlogy(q, q).sum(-1)
        kl = neg_entropy.to(q.dtype) - (q * support).sum(-1)
        ctx.save_for_backward(log_p.exp_(), q, idx if idx is not None else q.new_empty(0))
        ctx.tau, ctx.sparse, ctx.dtype = tau, idx is not None, logits.dtype
        return kl

    @staticmethod
    def backward(ctx, grad_kl):  # type: ignore[override]
        p, q, idx = ctx.saved_tensors
        scale = (grad_kl / ctx.tau).unsqueeze(-1)
        grad = p * (q.sum(-1, keepdim=True) * scale)
        if ctx.sparse:
            grad.scatter_add_(-1, idx, -q * scale)
        else:
            grad.addcmul_(q, scale, value=-1.0)
        return grad.to(ctx.dtype), None, None, None, None


def frame_kl(logits: torch.Tensor, soft_targets: Any, tau: float = 1.0) -> torch.Tensor:
    """Per-frame KL(q || softmax(logits / tau)), shape (B, T'), differentiable in ``logits``.

    Args:
        logits: (B, T', V) student logits.
        soft_targets: SoftTargets, dense or top-k, already at temperature ``tau``.
        tau: student temperature.
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)
    neg_entropy = getattr(soft_targets, "neg_entropy", None)  # sum q log q, when the engine gave it
    if _is_dense(soft_targets):
        q = soft_targets.probs.detach().to(dtype)
        if q.shape != logits.shape:
            raise ValueError(f"soft targets {tuple(q.shape)} do not match logits {tuple(logits.shape)}")
        return _SoftmaxKL.apply(logits, q, None, float(tau), neg_entropy)
    q, idx = _topk_support(soft_targets)
    return _SoftmaxKL.apply(logits, q.detach().to(dtype), idx, float(tau), neg_entropy)


def kl_divergence(
    logits: torch.Tensor, soft_targets: Any, tau: float = 1.0, mask: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """KL(q || p_tau) averaged over valid frames (no tau^2 factor)."""
    valid = _valid_mask(soft_targets, mask, logits.shape[:2])
    return _masked_mean(frame_kl(logits, soft_targets, tau), valid)


def kd_loss(
    logits: torch.Tensor, soft_targets: Any, tau: float = 1.0, mask: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Distillation loss tau^2 * KL(q || p_tau), averaged over valid frames.

    Args:
        logits: (B, T', V) logits of an auxiliary head.
        soft_targets: SoftTargets for the same frames (q already at temperature ``tau``).
        tau: temperature; the tau^2 factor keeps gradient scale independent of tau.
        mask: optional (B, T') bool of valid frames (``Batch.mask``).

    Returns:
        A scalar tensor; 0 iff p_tau == q on every valid frame.
    """
    return (tau**2) * kl_divergence(logits, soft_targets, tau, mask)


def interpolated_targets(
    targets: torch.Tensor, soft_targets: Any, alpha: float, num_classes: int
) -> torch.Tensor:
    """The dense interpolated target (1 - alpha) * onehot + alpha * q, (B, T', P).

    Frames whose target is ``IGNORE_INDEX`` get all zeros; frames without a soft target
    get the one-hot. Meant for inspection and tests; the loss never builds it.
    """
    valid = targets != IGNORE_INDEX
    onehot = F.one_hot(targets.clamp(min=0), num_classes).float()
    q = _dense_probs(soft_targets, num_classes)
    a = alpha * soft_targets.mask.bool().float().unsqueeze(-1)
    return ((1.0 - a) * onehot + a * q) * valid.unsqueeze(-1).float()


def _dense_probs(soft_targets: Any, num_classes: int) -> torch.Tensor:
    if _is_dense(soft_targets):
        return soft_targets.probs.float()
    values, idx = _topk_support(soft_targets)
    out = torch.zeros(*idx.shape[:-1], num_classes, device=values.device)
    return out.scatter_add_(-1, idx, values)


def soft_cross_entropy(logits: torch.Tensor, soft_targets: Any) -> torch.Tensor:
    """Per-frame -sum_i q_i log softmax(logits)_i, shape (B, T')."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    if _is_dense(soft_targets):
        return -(soft_targets.probs.float() * log_p).sum(-1)
    q, idx = _topk_support(soft_targets)
    return -(q * log_p.gather(-1, idx)).sum(-1)


def ce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Plain frame cross-entropy, mean over frames whose target is not ``IGNORE_INDEX``.

    Computed exactly as :class:`kaldi_kd.am.objective.CEObjective` does (same ops), so a
    KD objective with every weight 0 gives bit-identical losses.
    """
    ce, n, _ = frame_ce(logits, targets)
    return ce / n.clamp(min=1).float()


def interp_ce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    soft_targets: Any,
    alpha: float,
    mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Label-interpolation loss of the main head.

    Args:
        logits: (B, T', P) main-head logits.
        targets: (B, T') pdf-ids, ``IGNORE_INDEX`` where padded.
        soft_targets: senone SoftTargets (V == P) or None (then plain CE).
        alpha: interpolation weight in [0, 1]; 0 gives ``ce_loss`` exactly.
        mask: optional (B, T') frames to use on top of ``targets != IGNORE_INDEX``.

    Returns:
        Mean over valid frames of the soft cross-entropy against
        (1 - alpha) * onehot(y) + alpha * q.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"interp alpha must be in [0, 1], got {alpha}")
    if mask is not None:
        targets = targets.masked_fill(~mask.bool(), IGNORE_INDEX)
    if alpha == 0.0 or soft_targets is None:
        return ce_loss(logits, targets)
    valid = targets != IGNORE_INDEX
    hard = F.cross_entropy(
        logits.float().transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
    )
    soft = soft_cross_entropy(logits, soft_targets)
    a = alpha * soft_targets.mask.bool().to(hard.dtype)
    per_frame = (1.0 - a) * hard + a * torch.where(valid, soft, torch.zeros_like(soft))
    return _masked_mean(per_frame, valid)
