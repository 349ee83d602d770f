"""The distillation training objective (implements the AM loop's ``Objective`` protocol).

    loss = CE_main (or the label-interpolated CE) + sum_u lambda_u * KD_u
    KD_u = tau_u^2 * KL(q_u || softmax(z_u / tau_u))

where z_u are the logits of the auxiliary head for unit u and q_u the soft targets that
the frozen teacher for u gives for the batch's frames (through its SoftTargetEngine).

The stats dict (logged by the loop to tensorboard and train.log) has ``loss``, ``ce``
(plain CE of the main head, for comparison across systems), ``frame_acc``, and per head
``kd_<unit>`` and ``kl_<unit>``; with interpolation also ``interp_ce``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from kaldi_kd.am.heads import aux_logits as run_aux_heads
from kaldi_kd.am.objective import frame_ce
from kaldi_kd.kd.losses import interp_ce_loss, kl_divergence


class KDObjective:
    """CE of the main head plus weighted KD losses of the auxiliary heads.

    Args:
        engines: unit -> SoftTargetEngine (``targets(utt_ids, starts, num_frames, device)``).
        lambdas: unit -> lambda_u for every aux head of the model (missing: 1.0).
        taus: unit -> tau_u (missing: 1.0); must equal the engine's own tau.
        interp_alpha: label interpolation weight; > 0 needs ``engines["senone"]``.
    """

    def __init__(
        self,
        engines: Mapping[str, Any],
        lambdas: Optional[Mapping[str, float]] = None,
        taus: Optional[Mapping[str, float]] = None,
        interp_alpha: float = 0.0,
    ) -> None:
        if interp_alpha > 0 and "senone" not in engines:
            raise ValueError("label interpolation (interp_alpha > 0) needs a senone teacher engine")
        self.engines = dict(engines)
        self.lambdas = dict(lambdas or {})
        self.taus = dict(taus or {})
        self.interp_alpha = float(interp_alpha)

    def lam(self, unit: str) -> float:
        return float(self.lambdas.get(unit, 1.0))

    def tau(self, unit: str) -> float:
        return float(self.taus.get(unit, 1.0))

    def _targets(self, unit: str, batch: Any, out: Any, num_frames: int) -> Any:
        if unit not in self.engines:
            raise KeyError(f"the model has a '{unit}' head but no {unit} teacher engine was given")
        return self.engines[unit].targets(batch.utt_ids, batch.starts, num_frames, out.logits.device, lengths=out.lengths)

    def __call__(self, model: nn.Module, batch: Any) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Forward ``batch`` through ``model``; return (loss, stats)."""
        out = model(batch.feats, batch.lengths)
        targets, mask = batch.targets, batch.mask
        logits = out.logits[:, : targets.shape[1]]
        stats: Dict[str, float] = {}
        ce_sum, frames, correct = frame_ce(logits, targets)
        ce = ce_sum / frames.clamp(min=1).float()
        loss = ce
        cache: Dict[str, Any] = {}
        if self.interp_alpha > 0:
            cache["senone"] = self._targets("senone", batch, out, logits.shape[1])
            loss = interp_ce_loss(logits, targets, cache["senone"], self.interp_alpha, mask)
            stats["interp_ce"] = float(loss.detach())
        heads = getattr(out, "aux_logits", None) or run_aux_heads(model, out.layers)
        for unit, z in heads.items():
            z = z[:, : targets.shape[1]]
            lam, tau = self.lam(unit), self.tau(unit)
            st = cache[unit] if unit in cache else self._targets(unit, batch, out, z.shape[1])
            kl = kl_divergence(z, st, tau, mask)
            kd = (tau**2) * kl
            if lam != 0.0:
                loss = loss + lam * kd
            stats[f"kd_{unit}"] = float(kd.detach())
            stats[f"kl_{unit}"] = float(kl.detach())
        stats["ce"] = float(ce.detach())
        stats["frame_acc"] = float(correct.float() / frames.clamp(min=1).float())
        stats["frames"] = float(frames)
        stats["loss"] = float(loss.detach())
        return loss, stats

