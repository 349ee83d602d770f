"""The KD ablation: CE, label interpolation, each auxiliary head alone, all three together.

Each system is trained with N seeds into ``<exp-root>/<system>_seed<s>/``, its test-set
log-likelihoods computed, decoded through HCLG and scored; then RESULTS.md and a bar
chart are written from the real decode dirs (:mod:`kaldi_kd.kd.results`).

Every step is skipped when its output exists, so a killed run resumes where it stopped:
training when ``final.pt`` exists, forward when the loglike scp exists, decoding +
scoring when the decode dir has ``best_wer``.

The stage commands are templates (``AblationConfig.commands``) over these fields:
``{python}`` ``{seed}`` ``{exp}`` (the system's exp dir) ``{kd_args}`` ``{train_args}``
``{train_data}`` ``{test_data}`` ``{ali_dir}`` ``{lang}`` ``{graph}`` ``{decode_dir}``
``{loglikes}`` ``{forward_args}`` ``{decode_args}`` ``{score_args}`` ``{nj}``; a user with other
scripts edits the YAML. The defaults run steps_py/train_am.py (its KD options switch distillation on; unit
segments from ``<ali-dir>/units``, written by ali_to_units.py),
nnet_forward.py, decode.py and score.py.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import yaml

from kaldi_kd.am.heads import UNITS
from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.kd.results import DecodeResult, read_decode_dir, summarise, write_results
from kaldi_kd.lm.hf_options import HFOptions, is_hf_spec
from kaldi_kd.errors import InputError, KaldiKdError

log = logging.getLogger("kaldi_kd.kd.ablation")

PathLike = Union[str, Path]

SYSTEMS = ("ce", "interp", "aux_senone", "aux_monophone", "aux_subword", "hierarchical")

DEFAULT_COMMANDS = {
    "train": "{python} steps_py/train_am.py --opt seed={seed} {train_args} {kd_args} {train_data} {ali_dir} {exp}",
    "forward": "{python} steps_py/nnet_forward.py --nj {nj} {forward_args} {test_data} {exp} {loglikes}",
    "decode": "{python} steps_py/decode.py --nj {nj} --skip-scoring {decode_args} {graph} {test_data} {loglikes} "
    "{decode_dir}",
    "score": "{python} steps_py/score.py {score_args} {test_data} {graph} {decode_dir}",
}


class AblationError(KaldiKdError, RuntimeError):
    """A step of the ablation failed; the message names the command and its log."""


@dataclass
class AblationConfig:
    """Every ablation option with its default (saved as ``<out-dir>/ablation.yaml``).

    Attributes:
        systems: which systems to run, from :data:`SYSTEMS`, in table order (CE first).
        seeds: training seeds per system.
        layers: unit -> 1-based encoder layer of that unit's aux head.
        head_hidden: hidden width of the aux heads (0: linear projection).
        interp_alpha: the label-interpolation baseline's alpha.
        kd_lambda, kd_tau, top_k: distillation weights (every head alike).
        system_options: system -> overrides of the options above for that system only
            (keys from :data:`SYSTEM_OPTION_KEYS`), e.g. the dev-tuned values of each system.
        teachers: unit -> teacher exp dir, or ``hf:<dir>`` (subword) for a local Hugging Face LM.
        hf: options of an hf teacher (``HFOptions`` fields, e.g. ``{case: sentence}``), passed
            as ``--hf-<name>`` to the systems that use it.
        train_data, test_data, ali_dir, lang, graph: the recipe's dirs.
        exp_root: where ``<system>_seed<s>`` dirs go.
        test_name: decode dir is ``<exp>/decode_<test_name>``.
        train_args, forward_args, decode_args, score_args: extra options of each step.
        nj: decode jobs. python: interpreter for the stage scripts.
        commands: step -> command template (see the module docstring).
        replications: bootstrap resamples for the CIs.
    """

    systems: List[str] = field(default_factory=lambda: list(SYSTEMS))
    seeds: List[int] = field(default_factory=lambda: [1, 2, 3])
    layers: Dict[str, int] = field(default_factory=lambda: {"monophone": 2, "senone": 4, "subword": 6})
    head_hidden: int = 0
    interp_alpha: float = 0.3
    kd_lambda: float = 1.0
    kd_tau: float = 2.0
    top_k: Optional[int] = None
    system_options: Dict[str, Dict[str, object]] = field(default_factory=dict)
    teachers: Dict[str, str] = field(default_factory=lambda: {u: f"exp/lm_{u}" for u in UNITS})
    hf: Dict[str, object] = field(default_factory=dict)
    train_data: str = "data/train"
    test_data: str = "data/test"
    ali_dir: str = "exp/tri1_ali"
    lang: str = "data/lang"
    graph: str = "exp/tri1/graph"
    exp_root: str = "exp/kd"
    test_name: str = "test"
    train_args: str = ""
    forward_args: str = ""
    decode_args: str = ""
    score_args: str = ""
    nj: int = 2
    python: str = sys.executable
    commands: Dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COMMANDS))
    replications: int = 1000

    def validate(self) -> "AblationConfig":
        bad = [s for s in self.systems if s not in SYSTEMS]
        if bad:
            raise InputError(f"unknown ablation system(s) {bad}; choose from {', '.join(SYSTEMS)}")
        if not self.seeds:
            raise InputError("ablation needs at least one seed")
        for system, opts in self.system_options.items():
            if system not in SYSTEMS:
                raise InputError(f"system_options: unknown system {system!r}")
            bad_keys = sorted(set(opts) - set(SYSTEM_OPTION_KEYS))
            if bad_keys:
                raise InputError(f"system_options of {system}: unknown keys {bad_keys} (allowed: "
                                 f"{', '.join(SYSTEM_OPTION_KEYS)})")
        missing = [k for k in DEFAULT_COMMANDS if k not in self.commands]
        if missing:
            raise InputError(f"ablation config: no command template for {missing}")
        HFOptions.from_dict(self.hf)  # unknown hf option names fail here, not in every train step
        return self

    @classmethod
    def load(cls, path: PathLike, **overrides) -> "AblationConfig":
        """Read a YAML config (keys as the attributes; missing keys keep their defaults)."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"{path}: unknown keys {sorted(unknown)}")
        commands = dict(DEFAULT_COMMANDS)
        commands.update(data.pop("commands", {}) or {})
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(commands=commands, **data).validate()

    def save(self, path: PathLike) -> None:
        write_text_atomic(path, yaml.safe_dump(asdict(self), sort_keys=False))


SYSTEM_OPTION_KEYS = ("layers", "head_hidden", "interp_alpha", "kd_lambda", "kd_tau", "top_k")


def system_config(cfg: AblationConfig, system: str) -> AblationConfig:
    """``cfg`` with ``system``'s own options (``system_options``) applied."""
    opts = dict(cfg.system_options.get(system, {}))
    if "layers" in opts:
        opts["layers"] = {**cfg.layers, **opts["layers"]}
    return replace(cfg, **opts) if opts else cfg


def system_units(system: str) -> List[str]:
    """The aux-head units of a system (interp and CE have none)."""
    if system == "hierarchical":
        return ["monophone", "senone", "subword"]
    if system.startswith("aux_"):
        return [system[len("aux_"):]]
    return []


def kd_args(system: str, cfg: AblationConfig) -> List[str]:
    """The train_am.py distillation options of ``system`` (see :func:`kaldi_kd.kd.config.add_kd_arguments`)."""
    cfg = system_config(cfg, system)
    if system == "ce":
        return []
    if system == "interp":
        return ["--interp-alpha", str(cfg.interp_alpha), "--kd-tau", str(cfg.kd_tau),
                "--teacher", f"senone={cfg.teachers['senone']}"]
    units = system_units(system)
    hidden = f":{cfg.head_hidden}" if cfg.head_hidden else ""
    args = ["--aux-heads", ",".join(f"{u}@{cfg.layers[u]}{hidden}" for u in units),
            "--kd-lambda", str(cfg.kd_lambda), "--kd-tau", str(cfg.kd_tau)]
    if cfg.top_k:
        args += ["--kd-top-k", str(cfg.top_k)]
    for u in units:
        args += ["--teacher", f"{u}={cfg.teachers[u]}"]
    if any(is_hf_spec(cfg.teachers[u]) for u in units):
        for name, value in cfg.hf.items():
            args += [f"--hf-{name.replace('_', '-')}", str(value)]
    return args


def system_dir(cfg: AblationConfig, system: str, seed: int) -> Path:
    return Path(cfg.exp_root) / f"{system}_seed{seed}"


def decode_dir(cfg: AblationConfig, system: str, seed: int) -> Path:
    return system_dir(cfg, system, seed) / f"decode_{cfg.test_name}"


def step_commands(cfg: AblationConfig, system: str, seed: int) -> Dict[str, List[str]]:
    """step -> argv of ``system`` at ``seed`` (templates filled in)."""
    exp = system_dir(cfg, system, seed)
    fields = dict(
        python=shlex.quote(cfg.python), seed=seed, exp=exp, kd_args=shlex.join(kd_args(system, cfg)),
        train_args=cfg.train_args, train_data=cfg.train_data, test_data=cfg.test_data, ali_dir=cfg.ali_dir,
        lang=cfg.lang, graph=cfg.graph, decode_dir=decode_dir(cfg, system, seed),
        loglikes=exp / f"loglikes_{cfg.test_name}", forward_args=cfg.forward_args, decode_args=cfg.decode_args,
        score_args=cfg.score_args, nj=cfg.nj,
    )
    return {step: shlex.split(tpl.format(**fields)) for step, tpl in cfg.commands.items()}


def step_done(cfg: AblationConfig, system: str, seed: int, step: str) -> bool:
    """Whether ``step`` already produced its output (resumability)."""
    exp = system_dir(cfg, system, seed)
    if step == "train":
        return (exp / "final.pt").is_file()
    if step == "forward":
        return (exp / f"loglikes_{cfg.test_name}" / "num_jobs").is_file()
    ddir = decode_dir(cfg, system, seed)
    if step == "decode":
        n = _num_jobs(ddir)
        return n > 0 and all((ddir / f"lat.{j}.gz").is_file() for j in range(1, n + 1))
    return (ddir / "scoring_kaldi" / "best_wer").is_file()


def _num_jobs(path: Path) -> int:
    try:
        return int((path / "num_jobs").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


Runner = Callable[[List[str], Path], int]


def run_logged(argv: List[str], log_path: Path) -> int:
    """Run ``argv`` with stdout+stderr to ``log_path``; return its exit status."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as f:
        f.write("# " + shlex.join(argv) + "\n")
        f.flush()
        return subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT)


def run_system(cfg: AblationConfig, system: str, seed: int, runner: Runner = run_logged) -> Path:
    """Train, forward, decode and score one system/seed, skipping finished steps.

    Returns:
        The scored decode dir.

    Raises:
        AblationError: naming the failing command and its log file.
    """
    commands = step_commands(cfg, system, seed)
    log_dir = Path(cfg.exp_root) / "log"
    steps = ("train", "forward", "decode", "score")
    done = [i for i, step in enumerate(steps) if step_done(cfg, system, seed, step)]
    first = done[-1] + 1 if done else 0  # a later step's output implies the earlier ones
    if first:
        log.info("%s seed %d: %s done, skipped", system, seed, ", ".join(steps[:first]))
    for step in steps[first:]:
        log_path = log_dir / f"{step}.{system}_seed{seed}.log"
        log.info("%s seed %d: %s: %s", system, seed, step, shlex.join(commands[step]))
        rc = runner(commands[step], log_path)
        if rc != 0:
            raise AblationError(f"{system} seed {seed}: {step} failed (exit {rc}); see {log_path}")
        if step in ("train", "score") and not step_done(cfg, system, seed, step):
            raise AblationError(f"{system} seed {seed}: {step} exited 0 but left no output; see {log_path}")
    return decode_dir(cfg, system, seed)


def collect(cfg: AblationConfig, reader: Callable[[Path], DecodeResult] = read_decode_dir) -> Dict[str, Dict[int, DecodeResult]]:
    """Read every system's scored decode dirs: system -> seed -> result."""
    return {s: {seed: reader(decode_dir(cfg, s, seed)) for seed in cfg.seeds} for s in cfg.systems}


def describe(cfg: AblationConfig) -> str:
    """A markdown note listing each system's distillation options."""
    lines = ["Systems (train_am.py options):", ""]
    for s in cfg.systems:
        lines.append(f"- {s}: `{shlex.join(kd_args(s, cfg)) or '(plain CE)'}`")
    return "\n".join(lines)


def run_ablation(cfg: AblationConfig, out_dir: PathLike, runner: Runner = run_logged, skip_run: bool = False) -> Path:
    """Run (or resume) every system and seed, then write RESULTS.md + wer.png in ``out_dir``.

    Args:
        cfg: the ablation config (saved into ``out_dir/ablation.yaml``).
        out_dir: where the table and chart go.
        runner: executes one command with a log file (tests pass a fake).
        skip_run: only collect existing decode dirs and write the table.

    Returns:
        The RESULTS.md path.
    """
    cfg.validate()
    out_dir = Path(out_dir)
    cfg.save(out_dir / "ablation.yaml")
    if not skip_run:
        for system in cfg.systems:
            for seed in cfg.seeds:
                run_system(cfg, system, seed, runner)
    baseline = "ce" if "ce" in cfg.systems else None
    summaries = summarise(collect(cfg), baseline=baseline, replications=cfg.replications)
    md, png = write_results(summaries, out_dir, baseline=baseline or "-", notes=describe(cfg))
    log.info("wrote %s and %s", md, png)
    return md
