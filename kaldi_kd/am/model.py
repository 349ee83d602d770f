"""The hybrid (DNN-HMM) acoustic model: an encoder, a main senone head, auxiliary heads.

Contract (agreed with the kd/teachers areas, see the team brief):

* ``HybridModel.forward(feats (B,T,F), lengths (B,)) -> ModelOutput`` with
  ``logits (B,T',P)``, ``lengths (B,)`` (output lengths), ``layers`` where
  ``layers[i-1]`` is the output ``(B,T',D_i)`` of encoder layer ``i`` (1-based, as in
  ``senone@4``) and ``aux_logits[name] (B,T',V)`` for every auxiliary head.
* ``model.layer_dims[i-1] = D_i``; ``model.num_layers = len(layer_dims)``.
* ``model.subsampling = s`` (default 1): ``T' = ceil(T / s)``; output frame ``j`` sits
  at input frame ``j * s`` (the encoder keeps every s-th frame after its first
  layer), so frame targets are subsampled the same way: ``targets[:, ::s]``
  (:func:`subsample_targets`).  Values of ``layers``/``logits`` at padded output
  frames (``j >= lengths[b]``) are zero/undefined and must be masked.
* ``aux_heads`` is an ``nn.ModuleDict``; each member has an int attribute ``layer``
  (1-based) and maps ``layers[layer-1]`` to logits: :class:`kaldi_kd.am.heads.AuxHead`,
  added by :meth:`HybridModel.add_aux_head` or :func:`kaldi_kd.am.heads.add_aux_heads`.
* :meth:`HybridModel.export` returns a copy without auxiliary heads (decoding uses
  the main head only).

Padded frames are zeroed between layers, so a batched forward gives the same
outputs as running each utterance alone (up to float rounding).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Dict, List, NamedTuple

import torch
from torch import Tensor, nn

from kaldi_kd.am.heads import AuxHead, AuxHeadSpec, add_aux_heads
from kaldi_kd.errors import InputError

MODEL_TYPES = ("tdnn", "tdnnf", "blstm", "conformer")


@dataclass
class ModelConfig:
    """Every model option with its default.  ``input_dim``/``num_pdfs`` are filled in
    from the data and the transition model by the training script.

    Attributes:
        type: encoder kind: "tdnn", "tdnnf" (factorised TDNN), "blstm", "conformer".
        input_dim: feature dimension F.
        num_pdfs: number of senones P (main head size).
        hidden_dim: width of every encoder layer (BLSTM: per direction, output 2x).
        num_layers: number of encoder layers.
        dropout: dropout after every encoder layer.
        subsampling: output frame rate divisor s (1 = every input frame).
        tdnn_context: per-layer dilation of the 3-tap TDNN kernels (0 = 1x1 layer);
            cycled if shorter than num_layers.  Default (1,1,1,3,3,3) as in Kaldi's
            tdnn recipes: total context +-12 frames for 6 layers.
        bottleneck_dim: TDNN-F factorisation bottleneck.
        semi_orthogonal: apply Kaldi's semi-orthogonal constraint step to TDNN-F
            factors (call :meth:`HybridModel.constrain` after optimiser steps).
        num_heads: conformer attention heads.
        ff_mult: conformer feed-forward expansion.
        conv_kernel: conformer depthwise convolution kernel size.
    """

    type: str = "tdnn"
    input_dim: int = 40
    num_pdfs: int = 100
    hidden_dim: int = 256
    num_layers: int = 6
    dropout: float = 0.1
    subsampling: int = 1
    tdnn_context: List[int] = field(default_factory=lambda: [1, 1, 1, 3, 3, 3])
    bottleneck_dim: int = 64
    semi_orthogonal: bool = True
    num_heads: int = 4
    ff_mult: int = 4
    conv_kernel: int = 15

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        if self.type not in MODEL_TYPES:
            raise InputError(f"model.type must be one of {MODEL_TYPES}, got {self.type!r}")
        for name in ("input_dim", "num_pdfs", "hidden_dim", "num_layers", "subsampling"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.type == "conformer" and self.hidden_dim % self.num_heads:
            raise InputError("model.hidden_dim must be divisible by model.num_heads")


class ModelOutput(NamedTuple):
    """What :meth:`HybridModel.forward` returns (see the module docstring)."""

    logits: Tensor
    lengths: Tensor
    layers: List[Tensor]
    aux_logits: Dict[str, Tensor]


def output_lengths(lengths: Tensor, subsampling: int) -> Tensor:
    """``ceil(lengths / subsampling)``."""
    return torch.div(lengths + subsampling - 1, subsampling, rounding_mode="floor")


def subsample_targets(targets: Tensor, subsampling: int) -> Tensor:
    """Frame targets (B,T) at the model's output rate: ``targets[:, ::s]`` (B, ceil(T/s))."""
    return targets[:, ::subsampling] if subsampling > 1 else targets


def length_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B, max_len) bool, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """The encoder for ``cfg.type``; it has ``layer_dims`` and
    ``forward(x, lengths) -> (layers, out_lengths)``."""
    if cfg.type in ("tdnn", "tdnnf"):
        from kaldi_kd.am.tdnn import TdnnEncoder

        return TdnnEncoder(cfg)
    if cfg.type == "blstm":
        from kaldi_kd.am.blstm import BlstmEncoder

        return BlstmEncoder(cfg)
    from kaldi_kd.am.conformer import ConformerEncoder

    return ConformerEncoder(cfg)


class HybridModel(nn.Module):
    """Encoder + main senone head + auxiliary heads (see the module docstring).

    Example:
        >>> m = HybridModel(ModelConfig(type="tdnn", input_dim=13, num_pdfs=20))
        >>> out = m(torch.zeros(2, 50, 13), torch.tensor([50, 30]))
        >>> tuple(out.logits.shape), len(out.layers) == m.num_layers
        ((2, 50, 20), True)
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.encoder = build_encoder(cfg)
        self.layer_dims: List[int] = list(self.encoder.layer_dims)
        self.subsampling: int = int(cfg.subsampling)
        self.head = nn.Linear(self.layer_dims[-1], cfg.num_pdfs)
        self.aux_heads = nn.ModuleDict()

    @property
    def num_layers(self) -> int:
        return len(self.layer_dims)

    @property
    def num_pdfs(self) -> int:
        return self.head.out_features

    def add_aux_head(self, unit: str, layer: int, vocab_size: int, hidden_dim: int = 0) -> AuxHead:
        """Attach the :class:`~kaldi_kd.am.heads.AuxHead` ``unit@layer[:hidden_dim]``
        (the same head ``--aux-heads`` builds) and return it.

        Raises:
            AuxHeadSpecError (a ValueError): unknown unit, layer not in 1..num_layers,
                or a head for ``unit`` already present.
        """
        spec = AuxHeadSpec(unit, int(layer), int(hidden_dim))
        add_aux_heads(self, [spec], {unit: vocab_size})
        return self.aux_heads[unit]

    def forward(self, feats: Tensor, lengths: Tensor) -> ModelOutput:
        """Run the model on padded features.

        Args:
            feats: (B, T, F) float features, padded.
            lengths: (B,) valid input frames per row.
        Returns:
            ModelOutput (see the module docstring).
        """
        layers, out_lengths = self.encoder(feats, lengths)
        logits = self.head(layers[-1])
        aux = {name: head(layers[head.layer - 1]) for name, head in self.aux_heads.items()}
        return ModelOutput(logits, out_lengths, layers, aux)

    def constrain(self) -> None:
        """Apply parameter constraints (TDNN-F semi-orthogonal step); call after optimiser steps."""
        fn = getattr(self.encoder, "constrain", None)
        if fn is not None:
            fn()

    def export(self) -> "HybridModel":
        """A deep copy without auxiliary heads, in eval mode (for decoding)."""
        heads = self.aux_heads
        self.aux_heads = nn.ModuleDict()
        try:
            out = copy.deepcopy(self)
        finally:
            self.aux_heads = heads
        return out.eval()

    def config_dict(self) -> dict:
        """The ModelConfig as a plain dict (for checkpoints and YAML)."""
        return asdict(self.config)


def model_from_config(cfg: dict | ModelConfig) -> HybridModel:
    """Build a HybridModel from a ModelConfig or its dict form."""
    if isinstance(cfg, dict):
        cfg = ModelConfig(**cfg)
    return HybridModel(cfg)


def main_state_dict(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Drop ``aux_heads.*`` entries of a state dict (loading a KD checkpoint for decoding)."""
    return {k: v for k, v in state.items() if not k.startswith("aux_heads.")}
