"""The distillation config: which heads, which teachers, how the losses are weighted.

Saved as ``<am-exp-dir>/kd.yaml`` next to the AM's own config, so decoding and
ablation tables can tell what a system was trained with.

Command-line forms (see :func:`add_kd_arguments`)::

    --aux-heads monophone@2,senone@4,subword@6   (unit@layer[:hidden], 1-based layers)
    --kd-lambda senone=1.0 --kd-lambda subword=0.5   (or one value for every head: --kd-lambda 0.5)
    --kd-tau 2.0                                     (or unit=tau items)
    --teacher senone=exp/lm_senone --teacher subword=exp/lm_subword
    --interp-alpha 0.3                               (label interpolation on the main head)
    --kd-top-k 32
    --teacher subword=hf:/models/gpt2 --hf-case sentence   (a local Hugging Face LM; --hf-* options)
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import yaml

from kaldi_kd.am.heads import UNITS, AuxHeadSpec, parse_aux_heads
from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.lm.hf_options import HF_DEFAULT_TOP_K, OPTION_HELP, HFOptions, HFOptionsError, is_hf_spec
from kaldi_kd.errors import KaldiKdError, MissingFileError

KD_CONFIG_NAME = "kd.yaml"


class KDConfigError(KaldiKdError, ValueError):
    """An inconsistent distillation config (head without teacher, bad weight...)."""


@dataclass
class KDConfig:
    """Every distillation option with its default.

    Attributes:
        aux_heads: ``unit@layer[:hidden]`` list; "" for none.
        kd_lambda: unit -> weight lambda_u of that head's KD loss.
        kd_tau: unit -> temperature tau_u (teacher and student softmax).
        default_lambda / default_tau: for heads not named in the dicts.
        top_k: keep the teacher's k most probable units per segment (None: dense).
        interp_alpha: label interpolation weight on the main head (needs a senone teacher).
        teachers: unit -> teacher exp dir (``exp/lm_<unit>``), or ``hf:<dir>`` for a local
            Hugging Face LM as the subword teacher.
        hf: options of an hf teacher (:class:`~kaldi_kd.lm.hf_options.HFOptions` fields).
    """

    aux_heads: str = ""
    kd_lambda: Dict[str, float] = field(default_factory=dict)
    kd_tau: Dict[str, float] = field(default_factory=dict)
    default_lambda: float = 1.0
    default_tau: float = 1.0
    top_k: Optional[int] = None
    interp_alpha: float = 0.0
    teachers: Dict[str, str] = field(default_factory=dict)
    hf: Dict[str, object] = field(default_factory=dict)

    @property
    def specs(self) -> List[AuxHeadSpec]:
        return parse_aux_heads(self.aux_heads)

    def lam(self, unit: str) -> float:
        return float(self.kd_lambda.get(unit, self.default_lambda))

    def tau(self, unit: str) -> float:
        return float(self.kd_tau.get(unit, self.default_tau))

    def needed_units(self) -> List[str]:
        """Units whose teacher the config needs (aux heads, then senone for interpolation)."""
        units = [s.unit for s in self.specs]
        if self.interp_alpha > 0 and "senone" not in units:
            units.append("senone")
        return units

    def hf_units(self) -> List[str]:
        """Units whose teacher is a Hugging Face model (``hf:<dir>``)."""
        return [u for u, spec in self.teachers.items() if is_hf_spec(spec)]

    def hf_options(self) -> HFOptions:
        """The hf teacher options (defaults where not given)."""
        return HFOptions.from_dict(self.hf)

    def unit_top_k(self, unit: str) -> Optional[int]:
        """top_k for ``unit``'s teacher: an hf teacher is never dense (default 8)."""
        if unit in self.hf_units():
            return self.top_k or HF_DEFAULT_TOP_K
        return self.top_k

    @property
    def enabled(self) -> bool:
        return bool(self.needed_units())

    def validate(self) -> "KDConfig":
        """Raise :class:`KDConfigError` on an inconsistent config; return self."""
        specs = self.specs
        if not 0.0 <= self.interp_alpha <= 1.0:
            raise KDConfigError(f"--interp-alpha must be in [0, 1], got {self.interp_alpha}")
        if self.top_k is not None and self.top_k < 1:
            raise KDConfigError(f"--kd-top-k must be >= 1, got {self.top_k}")
        for name, table in (("--kd-lambda", self.kd_lambda), ("--kd-tau", self.kd_tau), ("--teacher", self.teachers)):
            for unit in table:
                if unit not in UNITS:
                    raise KDConfigError(f"{name}: unknown unit '{unit}' (choose from {', '.join(UNITS)})")
        heads = {s.unit for s in specs}
        for unit in list(self.kd_lambda) + list(self.kd_tau):
            if unit not in heads and not (unit == "senone" and self.interp_alpha > 0):
                raise KDConfigError(f"a weight or temperature is given for '{unit}' but there is no {unit} head")
        for unit in self.hf_units():
            if unit != "subword":
                raise KDConfigError(f"--teacher {unit}={self.teachers[unit]}: a Hugging Face LM can only be the "
                                    "subword teacher")
        try:
            self.hf_options().validate()
        except HFOptionsError as e:
            raise KDConfigError(str(e)) from None
        for unit in self.needed_units():
            if unit not in self.teachers:
                raise KDConfigError(f"the config needs a {unit} teacher: give --teacher {unit}=exp/lm_{unit}")
            if self.tau(unit) <= 0:
                raise KDConfigError(f"--kd-tau for {unit} must be > 0")
            if self.lam(unit) < 0:
                raise KDConfigError(f"--kd-lambda for {unit} must be >= 0")
        return self

    def save(self, exp_dir: Union[str, Path]) -> Path:
        """Write ``<exp_dir>/kd.yaml`` atomically; return its path."""
        path = Path(exp_dir) / KD_CONFIG_NAME
        write_text_atomic(path, yaml.safe_dump(asdict(self), sort_keys=False))
        return path

    @classmethod
    def load(cls, path: Union[str, Path]) -> "KDConfig":
        """Read a ``kd.yaml`` (or the exp dir holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / KD_CONFIG_NAME
        if not path.is_file():
            raise MissingFileError(path)
        data = yaml.safe_load(path.read_text()) or {}
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise KDConfigError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(**data)


def parse_unit_values(items: Sequence[str], option: str, cast=float) -> Dict[str, object]:
    """Parse ``["senone=1.0", "subword=0.5,monophone=2"]`` into a dict.

    A bare value (``"0.5"``) is returned under the key ``"*"`` (every unit).
    """
    out: Dict[str, object] = {}
    for item in items or []:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            unit, sep, value = part.rpartition("=")
            key = unit.strip() if sep else "*"
            if sep and key not in UNITS:
                raise KDConfigError(f"{option} '{part}': unknown unit '{key}' (choose from {', '.join(UNITS)})")
            try:
                out[key] = cast(value.strip())
            except ValueError:
                raise KDConfigError(f"{option} '{part}': cannot read '{value}'") from None
    return out


def add_kd_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the distillation options (all defaults from :class:`KDConfig`) to ``parser``."""
    d = KDConfig()
    g = parser.add_argument_group("knowledge distillation")
    g.add_argument("--aux-heads", default=d.aux_heads,
                   help="auxiliary heads unit@layer[:hidden], e.g. monophone@2,senone@4,subword@6")
    g.add_argument("--kd-lambda", action="append", default=[],
                   help=f"unit=lambda (repeatable, or one value for all heads; default {d.default_lambda})")
    g.add_argument("--kd-tau", action="append", default=[],
                   help=f"unit=tau (repeatable, or one value for all; default {d.default_tau})")
    g.add_argument("--kd-top-k", type=int, default=d.top_k, help="top-k teacher targets (default: dense)")
    g.add_argument("--interp-alpha", type=float, default=d.interp_alpha,
                   help="label interpolation weight on the main head (needs --teacher senone=...)")
    g.add_argument("--teacher", action="append", default=[],
                   help="unit=exp/lm_<unit> (repeatable); subword=hf:<dir> for a local Hugging Face LM")
    h = parser.add_argument_group("Hugging Face teacher (--teacher subword=hf:<dir>)")
    for name, value in HFOptions().to_dict().items():
        h.add_argument(f"--hf-{name.replace('_', '-')}", type=type(value), default=None,
                       help=OPTION_HELP[name] + (f" (default {value!r})" if value != "" else ""))
    return parser


def kd_config_from_args(args: argparse.Namespace) -> KDConfig:
    """Build and validate a :class:`KDConfig` from :func:`add_kd_arguments` options."""
    lambdas = parse_unit_values(args.kd_lambda, "--kd-lambda")
    taus = parse_unit_values(args.kd_tau, "--kd-tau")
    teachers = parse_unit_values(args.teacher, "--teacher", cast=str)
    if "*" in teachers:
        raise KDConfigError("--teacher needs unit=exp-dir")
    d = KDConfig()
    cfg = KDConfig(
        aux_heads=args.aux_heads or "",
        kd_lambda={k: v for k, v in lambdas.items() if k != "*"},
        kd_tau={k: v for k, v in taus.items() if k != "*"},
        default_lambda=float(lambdas.get("*", d.default_lambda)),
        default_tau=float(taus.get("*", d.default_tau)),
        top_k=args.kd_top_k,
        interp_alpha=float(args.interp_alpha),
        teachers={k: str(v) for k, v in teachers.items()},
        hf={k: getattr(args, f"hf_{k}") for k in HFOptions().to_dict() if getattr(args, f"hf_{k}", None) is not None},
    )
    return cfg.validate()
