"""Training configuration: one dataclass tree with every default, YAML in and out.

``TrainConfig`` nests :class:`~kaldi_kd.am.model.ModelConfig` (``model.*``),
:class:`~kaldi_kd.am.data.DataConfig` (``data.*``) and :class:`OptimConfig`
(``optim.*``).  A YAML file gives any subset; ``--opt key=value`` overrides use dotted
keys (``model.hidden_dim=128``, ``optim.lr=1e-3``, ``num_epochs=5``) and values are
converted to the field's type.  The resolved config is saved as ``exp/<am>/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import yaml

from kaldi_kd.am.data import DataConfig
from kaldi_kd.am.model import ModelConfig
from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import KaldiKdError, MissingFileError

PathLike = Union[str, os.PathLike]


class ConfigError(KaldiKdError, ValueError):
    """Unknown key or unconvertible value; the message names the key (and file)."""


@dataclass
class OptimConfig:
    """AdamW + learning-rate schedule.

    Attributes:
        lr: peak learning rate.
        weight_decay: AdamW decoupled weight decay (not applied to biases/norm gains).
        betas, eps: AdamW.
        warmup_steps: linear warm-up from 0 to ``lr``.
        schedule: "cosine" (to ``min_lr_ratio * lr`` at the last step), "noam"
            (``lr * min(step/warmup, sqrt(warmup/step))``) or "constant".
        min_lr_ratio: floor of the cosine schedule.
        grad_clip: max global gradient norm (0 = no clipping).
    """

    lr: float = 2e-3
    weight_decay: float = 0.01
    betas: list = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-8
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0


@dataclass
class TrainConfig:
    """Everything a training run needs besides its directories.

    Attributes:
        num_epochs: passes over the training data (unless max_steps stops earlier).
        max_steps: stop after this many optimiser steps (0 = num_epochs decides).
        seed: seeds python/numpy/torch, the sampler and the held-out split.
        device: "auto" (cuda if available), "cpu", "cuda", "cuda:N".
        bf16: bf16 autocast (CUDA only; ignored on CPU).
        checkpoint_every: write a resumable checkpoint every N steps (and at epoch ends).
        keep_checkpoints: how many step checkpoints to keep.
        valid_every: validate every N steps (0 = at the end of every epoch only).
        log_every: log averaged stats every N steps.
        find_unused_parameters: DDP option (needed if some heads get no loss).
        deterministic: torch.use_deterministic_algorithms (slower; CPU tests).
        prior_utts: after training, the best model's posteriors averaged over this many
            (spread) training utterances become the decoding prior ``post_prior_counts``
            (Kaldi nnet3's adjust-priors); 0 leaves the alignment counts ``prior_counts``.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    num_epochs: int = 10
    max_steps: int = 0
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    valid_every: int = 0
    log_every: int = 10
    find_unused_parameters: bool = False
    deterministic: bool = False
    prior_utts: int = 500


def _convert(value: Any, default: Any, key: str) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, list):
            v = yaml.safe_load(value) if isinstance(value, str) else value
            if not isinstance(v, (list, tuple)):
                raise ValueError(value)
            return [type(default[0])(x) if default else x for x in v]
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: cannot convert {value!r} to {type(default).__name__}") from None


def _set(obj: Any, key: str, value: Any, where: str = "") -> None:
    """Set dotted ``key`` of ``obj``; ``where`` (``"<file>:<line>: "`` or ``"--opt: "``) starts errors."""
    parts = key.split(".")
    for i, p in enumerate(parts[:-1]):
        sub = getattr(obj, p, None)
        if sub is None or not dataclasses.is_dataclass(sub):
            raise ConfigError(f"{where}unknown config section '{'.'.join(parts[:i + 1])}' "
                              f"(sections: {', '.join(_sections(obj))})")
        obj = sub
    name = parts[-1]
    names = {f.name for f in dataclasses.fields(obj)}
    if name not in names:
        raise ConfigError(f"{where}unknown config key '{key}' (check the spelling; known here: "
                          f"{', '.join(sorted(names))})")
    cur = getattr(obj, name)
    if dataclasses.is_dataclass(cur):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}'{key}' is a section (give a mapping of its keys)")
        for k, v in value.items():
            _set(obj, f"{name}.{k}", v, where)
        return
    try:
        setattr(obj, name, _convert(value, cur, key))
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None


def _sections(obj: Any) -> List[str]:
    return [f.name for f in dataclasses.fields(obj) if dataclasses.is_dataclass(getattr(obj, f.name))]


def _yaml_items(path: PathLike) -> List[Tuple[str, Any, int]]:
    """(dotted key, value, 1-based line) of every leaf of a YAML mapping file.

    Raises:
        ConfigError: naming the file and line of a YAML syntax error or a non-mapping.
    """
    text = Path(path).read_text()
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', None) or err}; "
                          "fix the syntax)") from None
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:1: expected a mapping of config keys at top level")
    out: List[Tuple[str, Any, int]] = []

    def walk(n: yaml.MappingNode, d: Dict[str, Any], prefix: str) -> None:
        for k_node, v_node in n.value:
            key = k_node.value
            if isinstance(d.get(key), dict) and isinstance(v_node, yaml.MappingNode):
                walk(v_node, d[key], f"{prefix}{key}.")
            else:
                out.append((f"{prefix}{key}", d.get(key), k_node.start_mark.line + 1))

    walk(node, data, "")
    return out


def load_config(path: Optional[PathLike] = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Defaults <- YAML file ``path`` <- ``key=value`` overrides.

    Raises:
        ConfigError: naming the file/key for unknown keys or bad values.
    """
    cfg = TrainConfig()
    if path is not None:
        if not Path(path).is_file():
            raise MissingFileError(path)
        for key, value, line in _yaml_items(path):
            _set(cfg, key, value, where=f"{path}:{line}: ")
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Apply ``key=value`` items (dotted keys) to ``cfg`` in place; returns it."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--opt {item!r}: expected key=value")
        k, v = item.split("=", 1)
        _set(cfg, k.strip(), v.strip(), where="--opt: ")
    return cfg


def config_from_dict(d: Dict[str, Any], source: str = "") -> TrainConfig:
    """Inverse of ``asdict`` (used when reading config.yaml or a checkpoint back);
    ``source`` names where ``d`` comes from in error messages."""
    cfg = TrainConfig()
    for k, v in d.items():
        _set(cfg, k, v, where=f"{source}: " if source else "")
    return cfg


def save_config(cfg: TrainConfig, path: PathLike) -> None:
    """Write the resolved config as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(asdict(cfg), sort_keys=False))
