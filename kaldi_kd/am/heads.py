"""Auxiliary output heads for distillation from LM teachers.

A head is named for its unit level (``senone``, ``monophone``, ``subword``) and
attaches at a 1-based encoder layer: ``senone@4`` reads ``ModelOutput.layers[3]``.
The spec string of ``--aux-heads`` is a comma-separated list of ``unit@layer``
items, each optionally with a hidden width, ``unit@layer:hidden``::

    >>> [str(s) for s in parse_aux_heads("monophone@2,senone@4,subword@6:256")]
    ['monophone@2', 'senone@4', 'subword@6:256']

Heads live in ``model.aux_heads`` (an ``nn.ModuleDict`` keyed by unit) and are
dropped by ``model.export()``; decoding uses the main senone head only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from kaldi_kd.errors import KaldiKdError

UNITS = ("senone", "monophone", "subword")


class AuxHeadSpecError(KaldiKdError, ValueError):
    """A malformed ``--aux-heads`` spec (unknown unit, bad layer, duplicate)."""


@dataclass(frozen=True)
class AuxHeadSpec:
    """Where one auxiliary head attaches and how it is shaped.

    Attributes:
        unit: unit level of the head's teacher, one of :data:`UNITS`.
        layer: 1-based encoder layer whose output the head reads.
        hidden_dim: width of an optional hidden ReLU layer (0: a plain projection).
    """

    unit: str
    layer: int
    hidden_dim: int = 0

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise AuxHeadSpecError(f"aux head '{self}': unknown unit '{self.unit}' (choose from {', '.join(UNITS)})")
        if self.layer < 1:
            raise AuxHeadSpecError(f"aux head '{self}': layer must be >= 1 (layers are 1-based)")
        if self.hidden_dim < 0:
            raise AuxHeadSpecError(f"aux head '{self}': hidden width must be >= 0")

    def __str__(self) -> str:
        text = f"{self.unit}@{self.layer}"
        return f"{text}:{self.hidden_dim}" if self.hidden_dim else text

    @classmethod
    def parse(cls, item: str) -> "AuxHeadSpec":
        """Parse one ``unit@layer[:hidden]`` item; raise :class:`AuxHeadSpecError`."""
        text = item.strip()
        unit, sep, rest = text.partition("@")
        if not sep or not unit or not rest:
            raise AuxHeadSpecError(f"aux head '{item}': expected unit@layer, e.g. senone@4")
        layer_text, _, hidden_text = rest.partition(":")
        layer = _parse_int(layer_text, item, "layer")
        hidden = _parse_int(hidden_text, item, "hidden width") if hidden_text else 0
        return cls(unit, layer, hidden)


def _parse_int(text: str, item: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AuxHeadSpecError(f"aux head '{item}': {what} '{text}' is not an integer") from None


def parse_aux_heads(spec: str, num_layers: Optional[int] = None) -> List[AuxHeadSpec]:
    """Parse ``"monophone@2,senone@4,subword@6"`` into head specs.

    Args:
        spec: comma-separated ``unit@layer[:hidden]`` items; "" or "none" gives [].
        num_layers: when given, every layer must be <= it.

    Returns:
        The specs in the order given.

    Raises:
        AuxHeadSpecError: unknown unit, non-integer or out-of-range layer, a unit twice.
    """
    if spec is None or spec.strip().lower() in ("", "none"):
        return []
    specs = [AuxHeadSpec.parse(item) for item in spec.split(",") if item.strip()]
    seen = set()
    for s in specs:
        if s.unit in seen:
            raise AuxHeadSpecError(f"aux heads '{spec}': unit '{s.unit}' given twice")
        seen.add(s.unit)
    if num_layers is not None:
        check_layers(specs, num_layers)
    return specs


def format_aux_heads(specs: Sequence[AuxHeadSpec]) -> str:
    """Inverse of :func:`parse_aux_heads`."""
    return ",".join(str(s) for s in specs)


def check_layers(specs: Sequence[AuxHeadSpec], num_layers: int) -> None:
    """Raise :class:`AuxHeadSpecError` when a head attaches above the encoder's top layer."""
    for s in specs:
        if not 1 <= s.layer <= num_layers:
            raise AuxHeadSpecError(
                f"aux head '{s}': layer {s.layer} out of range, the encoder has layers 1..{num_layers} "
                f"(attach it at 1..{num_layers}, or add layers: --opt model.num_layers={s.layer})"
            )


class AuxHead(nn.Module):
    """Projection from an encoder layer's output (B, T', D) to unit logits (B, T', V).

    Attributes:
        unit, layer: from the spec; ``layer`` is 1-based (reads ``layers[layer - 1]``).
    """

    def __init__(self, spec: AuxHeadSpec, in_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.unit = spec.unit
        self.layer = spec.layer
        self.hidden_dim = spec.hidden_dim
        if spec.hidden_dim:
            self.net = nn.Sequential(
                nn.Linear(in_dim, spec.hidden_dim), nn.ReLU(), nn.Linear(spec.hidden_dim, vocab_size)
            )
        else:
            self.net = nn.Linear(in_dim, vocab_size)

    @property
    def spec(self) -> AuxHeadSpec:
        return AuxHeadSpec(self.unit, self.layer, self.hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (B, T', D) output of encoder layer ``self.layer``. Returns (B, T', V) logits."""
        return self.net(x)


def add_aux_heads(model: nn.Module, specs: Sequence[AuxHeadSpec], vocab_sizes: Mapping[str, int]) -> nn.Module:
    """Create one :class:`AuxHead` per spec and register it in ``model.aux_heads[unit]``.

    Args:
        model: a HybridModel (needs ``layer_dims`` and an ``aux_heads`` ModuleDict).
        specs: from :func:`parse_aux_heads`.
        vocab_sizes: unit -> teacher vocabulary size (the head's output dim).

    Returns:
        ``model`` itself (heads added in place).

    Raises:
        AuxHeadSpecError: layer out of range, unit already present, vocabulary missing.
    """
    check_layers(specs, len(model.layer_dims))
    if not hasattr(model, "aux_heads"):
        model.aux_heads = nn.ModuleDict()
    for s in specs:
        if s.unit in model.aux_heads:
            raise AuxHeadSpecError(f"aux head '{s}': the model already has a '{s.unit}' head")
        if s.unit not in vocab_sizes:
            raise AuxHeadSpecError(f"aux head '{s}': no vocabulary size given for unit '{s.unit}'")
        head = AuxHead(s, model.layer_dims[s.layer - 1], int(vocab_sizes[s.unit]))
        model.aux_heads[s.unit] = head.to(_model_device(model))
    return model


def head_specs(model: nn.Module) -> List[AuxHeadSpec]:
    """The specs of the heads registered in ``model.aux_heads``."""
    return [h.spec for h in getattr(model, "aux_heads", {}).values()]


def aux_logits(model: nn.Module, layers: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Run every auxiliary head on its layer's output.

    Args:
        model: a model with ``aux_heads``.
        layers: ``ModelOutput.layers`` (``layers[i-1]`` is the output of layer i).

    Returns:
        unit -> (B, T', V_u) logits.
    """
    return {unit: head(layers[head.layer - 1]) for unit, head in getattr(model, "aux_heads", {}).items()}


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
