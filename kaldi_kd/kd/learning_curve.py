"""A KD learning curve: the ablation at several amounts of transcribed audio, tuned on dev.

1. **Tuning** (one size, one seed, dev set): every variant of the grid is trained,
   decoded on dev and scored; round 1 tunes label interpolation and the senone aux head,
   round 2 runs the other single heads and hierarchical KD with the senone head's
   chosen weight and temperature.  Each system keeps its best variant (lowest dev WER);
   the best single aux head is the single-head system with the lowest dev WER.
2. **Curve**: at every size, the systems ``ce``, ``interp``, the best single aux head and
   ``hierarchical`` with their tuned options, every seed, decoded on test.  Nothing is
   chosen on test.
3. **Summary**: per size, WER mean ± std over seeds, bootstrap CIs, paired differences
   against ``ce`` and against ``interp``; one plot of test WER against hours and of the
   relative KD gain against hours.

Every step reuses :mod:`kaldi_kd.kd.ablation` (resumable: finished trainings, forwards,
decodes and scores are skipped), so a killed run continues where it stopped.  Paths in
the config may hold ``{tag}``, the size's name (``0.5h``, ``1h``, ...).

Layout under ``exp_root``::

    tune/<system>/v<i>/<system>_seed<s>/decode_dev   tuning runs (v0 = the only variant)
    tune/TUNING.md, tune/chosen.yaml                 dev WERs and the chosen options
    <tag>/kd/<system>_seed<s>/decode_test            the curve's systems
    RESULTS.md, curve.png, curve.json                the summary
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.errors import InputError
from kaldi_kd.kd.ablation import (SYSTEM_OPTION_KEYS, AblationConfig, Runner, kd_args, run_logged, run_system,
                                  system_dir)
from kaldi_kd.kd.results import DecodeResult, SystemSummary, read_decode_dir, summarise

log = logging.getLogger("kaldi_kd.kd.learning_curve")

PathLike = Union[str, Path]
SINGLE_HEADS = ("aux_senone", "aux_monophone", "aux_subword")
ROUND1 = ("ce", "interp", "aux_senone")
ROUND2 = ("aux_monophone", "aux_subword", "hierarchical")
SHARED_KEYS = ("kd_lambda", "kd_tau", "head_hidden", "top_k")  # round 2 takes these from aux_senone


class LearningCurveError(InputError):
    """A bad learning-curve config or missing results; the message names the file or system."""


def size_tag(hours: float) -> str:
    """``0.5`` -> ``0.5h``, ``1.0`` -> ``1h``."""
    return f"{hours:g}h"


@dataclass
class LearningCurveConfig:
    """Every learning-curve option with its default (saved as ``<exp_root>/learning_curve.yaml``).

    Attributes:
        sizes: hours of transcribed audio, one curve point each.
        seeds: training seeds of every curve system.
        tune_size: the size the grid is tuned at (one of ``sizes``).
        tune_seed: the seed of the tuning runs.
        grid: system -> list of option variants (keys of
            :data:`kaldi_kd.kd.ablation.SYSTEM_OPTION_KEYS`) for round 1 systems.
        epochs: hours -> AM training epochs at that size (fewer hours, more epochs).
        ablation: the base :class:`AblationConfig` fields (train/forward/decode args,
            layers, head width, nj...); ``train_data``, ``ali_dir``, ``graph``,
            ``teachers`` may hold ``{tag}``.
        dev_data, test_data: the AM-feature data dirs of dev and test.
        exp_root: where everything goes.
        replications: bootstrap resamples.
        jobs: systems trained / decoded at the same time (each runs its own steps in order).
    """

    sizes: List[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    seeds: List[int] = field(default_factory=lambda: [1, 2, 3])
    tune_size: float = 1.0
    tune_seed: int = 1
    grid: Dict[str, List[Dict[str, object]]] = field(default_factory=lambda: {
        "interp": [{"interp_alpha": 0.2}, {"interp_alpha": 0.5}],
        "aux_senone": [{"kd_lambda": 0.5, "kd_tau": 1.0}, {"kd_lambda": 1.0, "kd_tau": 2.0}],
    })
    epochs: Dict[float, int] = field(default_factory=lambda: {0.5: 12, 1.0: 8, 2.0: 5})
    ablation: Dict[str, object] = field(default_factory=dict)
    dev_data: str = "data/dev_fbank"
    test_data: str = "data/test_fbank"
    exp_root: str = "exp/lc"
    replications: int = 1000
    jobs: int = 1

    def validate(self) -> "LearningCurveConfig":
        if self.tune_size not in self.sizes:
            raise LearningCurveError(f"tune_size {self.tune_size} is not one of sizes {self.sizes}")
        missing = [h for h in self.sizes if h not in self.epochs]
        if missing:
            raise LearningCurveError(f"epochs: no entry for size(s) {missing}")
        for system, variants in self.grid.items():
            if system not in ROUND1 or system == "ce":
                raise LearningCurveError(f"grid: {system!r} cannot be tuned in round 1 (use interp or aux_senone)")
            if not variants:
                raise LearningCurveError(f"grid: {system} has no variants")
            for v in variants:
                bad = sorted(set(v) - set(SYSTEM_OPTION_KEYS))
                if bad:
                    raise LearningCurveError(f"grid: {system} variant {v} has unknown keys {bad}")
        if len(self.seeds) < 1:
            raise LearningCurveError("seeds: at least one")
        if self.jobs < 1:
            raise LearningCurveError(f"jobs must be >= 1, got {self.jobs}")
        return self

    @classmethod
    def load(cls, path: PathLike) -> "LearningCurveConfig":
        """Read a YAML config (missing keys keep their defaults); unknown keys raise, naming the file."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise LearningCurveError(f"{path}: unknown keys {sorted(unknown)}")
        if "epochs" in data:
            data["epochs"] = {float(k): int(v) for k, v in data["epochs"].items()}
        if "sizes" in data:
            data["sizes"] = [float(h) for h in data["sizes"]]
        if "tune_size" in data:
            data["tune_size"] = float(data["tune_size"])
        return cls(**data).validate()

    def save(self, path: PathLike) -> None:
        write_text_atomic(path, yaml.safe_dump(asdict(self), sort_keys=False))

    # ---- per-size ablation configs ------------------------------------------------
    def size_ablation(self, hours: float, test_data: str, test_name: str, exp_root: str,
                      systems: Sequence[str], seeds: Sequence[int],
                      system_options: Optional[Dict[str, Dict[str, object]]] = None) -> AblationConfig:
        """The :class:`AblationConfig` of one size: ``{tag}`` filled in, epochs appended to train_args."""
        tag = size_tag(hours)
        base = dict(self.ablation)
        for key in ("train_data", "ali_dir", "graph", "lang"):
            if key in base:
                base[key] = str(base[key]).format(tag=tag)
        if "teachers" in base:
            base["teachers"] = {u: str(d).format(tag=tag) for u, d in dict(base["teachers"]).items()}
        base["train_args"] = f"{base.get('train_args', '')} --opt num_epochs={self.epochs[hours]}".strip()
        unknown = set(base) - set(AblationConfig.__dataclass_fields__)
        if unknown:
            raise LearningCurveError(f"ablation: unknown keys {sorted(unknown)}")
        cfg = AblationConfig(**base)
        return replace(cfg, systems=list(systems), seeds=list(seeds), test_data=test_data, test_name=test_name,
                       exp_root=exp_root, system_options=dict(system_options or {}),
                       replications=self.replications).validate()


# ---- tuning -----------------------------------------------------------------------
@dataclass
class Trial:
    """One tuning run: a system with one option variant, and its dev WER once scored."""

    system: str
    variant: int
    options: Dict[str, object]
    exp_root: str
    dev_wer: Optional[float] = None


def tuning_trials(cfg: LearningCurveConfig, round2_options: Optional[Dict[str, object]] = None) -> List[Trial]:
    """Round 1 trials (``round2_options`` None) or round 2 trials (with aux_senone's chosen options)."""
    root = Path(cfg.exp_root) / "tune"
    if round2_options is None:
        trials = [Trial("ce", 0, {}, str(root / "ce" / "v0"))]
        for system in ("interp", "aux_senone"):
            for i, opts in enumerate(cfg.grid.get(system, [{}])):
                trials.append(Trial(system, i, dict(opts), str(root / system / f"v{i}")))
        return trials
    shared = {k: v for k, v in round2_options.items() if k in SHARED_KEYS}
    return [Trial(s, 0, dict(shared), str(root / s / "v0")) for s in ROUND2]


def run_trial(cfg: LearningCurveConfig, trial: Trial, runner: Runner = run_logged,
              reader: Callable[[Path], DecodeResult] = read_decode_dir) -> Trial:
    """Train, decode dev and score one trial (skipping finished steps); fills ``dev_wer``."""
    abl = cfg.size_ablation(cfg.tune_size, cfg.dev_data, "dev", trial.exp_root, [trial.system], [cfg.tune_seed],
                            {trial.system: trial.options} if trial.options else None)
    ddir = run_system(abl, trial.system, cfg.tune_seed, runner)
    trial.dev_wer = reader(ddir).wer
    return trial


def run_parallel(tasks: Sequence[Callable[[], object]], jobs: int) -> List[object]:
    """Run ``tasks`` with at most ``jobs`` at a time, in order; every task runs even when
    another fails, then the first failure is raised."""
    if jobs <= 1:
        return [t() for t in tasks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(t) for t in tasks]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def choose(trials: Sequence[Trial]) -> Dict[str, Trial]:
    """The lowest-dev-WER trial of each system (ties: the earlier variant)."""
    best: Dict[str, Trial] = {}
    for t in trials:
        if t.dev_wer is None:
            raise LearningCurveError(f"tuning: {t.system} v{t.variant} has no dev WER")
        if t.system not in best or t.dev_wer < best[t.system].dev_wer:
            best[t.system] = t
    return best


def best_single_head(chosen: Dict[str, Trial]) -> str:
    """The single-head system with the lowest dev WER."""
    heads = [s for s in SINGLE_HEADS if s in chosen]
    if not heads:
        raise LearningCurveError("tuning: no single-head system was run")
    return min(heads, key=lambda s: (chosen[s].dev_wer, SINGLE_HEADS.index(s)))


def tune(cfg: LearningCurveConfig, runner: Runner = run_logged,
         reader: Callable[[Path], DecodeResult] = read_decode_dir) -> Dict[str, object]:
    """Both tuning rounds; writes ``tune/TUNING.md`` and ``tune/chosen.yaml``; returns the choice.

    Returns:
        {"systems": the curve's systems, "system_options": system -> options,
         "dev_wer": system -> dev WER, "runs": system -> tuning exp root}.
    """
    def trial_tasks(ts: Sequence[Trial]) -> List[Callable[[], object]]:
        return [lambda t=t: run_trial(cfg, t, runner, reader) for t in ts]

    trials = run_parallel(trial_tasks(tuning_trials(cfg)), cfg.jobs)
    best1 = choose(trials)
    trials += run_parallel(trial_tasks(tuning_trials(cfg, best1["aux_senone"].options)), cfg.jobs)
    best = choose(trials)
    single = best_single_head(best)
    systems = ["ce", "interp", single, "hierarchical"]
    chosen = {
        "systems": systems,
        "system_options": {s: best[s].options for s in systems if best[s].options},
        "dev_wer": {s: best[s].dev_wer for s in best},
        "runs": {s: best[s].exp_root for s in systems},
    }
    root = Path(cfg.exp_root) / "tune"
    write_text_atomic(root / "chosen.yaml", yaml.safe_dump(chosen, sort_keys=False))
    write_text_atomic(root / "TUNING.md", tuning_markdown(cfg, trials, best, single))
    return chosen


def tuning_markdown(cfg: LearningCurveConfig, trials: Sequence[Trial], best: Dict[str, Trial], single: str) -> str:
    """The dev-WER table of every tuning run, chosen variants marked."""
    abl = cfg.size_ablation(cfg.tune_size, cfg.dev_data, "dev", "", list(best), [cfg.tune_seed])
    lines = [f"# Tuning on dev at {size_tag(cfg.tune_size)} (seed {cfg.tune_seed})", "",
             "| system | variant | options | train_am.py KD options | dev WER | chosen |", "|---|---|---|---|---:|---|"]
    for t in trials:
        opts = ", ".join(f"{k}={v}" for k, v in t.options.items()) or "-"
        args = " ".join(kd_args(t.system, replace(abl, system_options={t.system: t.options}))) or "(plain CE)"
        mark = "yes" if best[t.system] is t else ""
        lines.append(f"| {t.system} | v{t.variant} | {opts} | `{args}` | {t.dev_wer:.2f} | {mark} |")
    lines += ["", f"Best single aux head on dev: **{single}**.", ""]
    return "\n".join(lines)


def load_choice(cfg: LearningCurveConfig) -> Dict[str, object]:
    """``tune/chosen.yaml``, written by :func:`tune`.

    Raises:
        LearningCurveError: naming the file when tuning has not finished.
    """
    path = Path(cfg.exp_root) / "tune" / "chosen.yaml"
    if not path.is_file():
        raise LearningCurveError(f"expected file {path} to exist (run the tuning step first)")
    return yaml.safe_load(path.read_text())


# ---- the curve ---------------------------------------------------------------------
def curve_ablation(cfg: LearningCurveConfig, hours: float, chosen: Dict[str, object]) -> AblationConfig:
    """The test-set ablation of one size with the tuned systems and options."""
    return cfg.size_ablation(hours, cfg.test_data, "test", str(Path(cfg.exp_root) / size_tag(hours) / "kd"),
                             chosen["systems"], cfg.seeds, chosen.get("system_options") or {})


def reuse_tuning_runs(cfg: LearningCurveConfig, abl: AblationConfig, chosen: Dict[str, object]) -> None:
    """At the tuning size the tuned seed's models are the curve's: link their exp dirs.

    Same data, alignments, options and seed give the same training, so the curve
    only adds the test decode of those runs.
    """
    for system, root in (chosen.get("runs") or {}).items():
        src = system_dir(replace(abl, exp_root=root), system, cfg.tune_seed)
        dst = system_dir(abl, system, cfg.tune_seed)
        if src.is_dir() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve(), target_is_directory=True)


def run_curve(cfg: LearningCurveConfig, runner: Runner = run_logged, sizes: Optional[Sequence[float]] = None) -> None:
    """Every size's test ablation (tuned systems, every seed), smallest size first."""
    chosen = load_choice(cfg)
    tasks: List[Callable[[], object]] = []
    for hours in sorted(sizes or cfg.sizes):
        abl = curve_ablation(cfg, hours, chosen)
        if hours == cfg.tune_size:
            reuse_tuning_runs(cfg, abl, chosen)
        abl.save(Path(abl.exp_root) / "ablation.yaml")
        for seed in cfg.seeds:  # size- then seed-major: an early stop still leaves complete seeds
            for system in abl.systems:
                tasks.append(lambda abl=abl, system=system, seed=seed: run_system(abl, system, seed, runner))
    run_parallel(tasks, cfg.jobs)


# ---- summary -----------------------------------------------------------------------
@dataclass
class CurvePoint:
    """One size: summaries against ce and against interp."""

    hours: float
    vs_ce: List[SystemSummary]
    vs_interp: List[SystemSummary]


def collect_curve(cfg: LearningCurveConfig, reader: Callable[[Path], DecodeResult] = read_decode_dir,
                  complete_only: bool = True) -> List[CurvePoint]:
    """Summaries of every size whose runs are scored (every seed of every system when
    ``complete_only``; sizes with none are left out)."""
    chosen = load_choice(cfg)
    points = []
    for hours in sorted(cfg.sizes):
        abl = curve_ablation(cfg, hours, chosen)
        results: Dict[str, Dict[int, DecodeResult]] = {}
        for system in abl.systems:
            per_seed = {}
            for seed in cfg.seeds:
                ddir = system_dir(abl, system, seed) / "decode_test"
                if (ddir / "scoring_kaldi" / "best_wer").is_file():
                    per_seed[seed] = reader(ddir)
            if per_seed:
                results[system] = per_seed
        full = len(results) == len(abl.systems) and all(len(v) == len(cfg.seeds) for v in results.values())
        if not results or "ce" not in results or (complete_only and not full):
            continue
        vs_ce = summarise(results, baseline="ce", replications=cfg.replications)
        vs_interp = summarise(results, baseline="interp" if "interp" in results else None,
                              replications=cfg.replications)
        points.append(CurvePoint(hours, vs_ce, vs_interp))
    return points


def _fmt(ci: Optional[Tuple[float, float]]) -> str:
    return "" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def curve_markdown(cfg: LearningCurveConfig, points: Sequence[CurvePoint], chosen: Dict[str, object]) -> str:
    """The learning-curve tables: one row per (size, system)."""
    lines = ["# KD learning curve (test set)", "",
             f"Systems tuned on dev at {size_tag(cfg.tune_size)} (`tune/TUNING.md`), then fixed for every size; "
             f"seeds {', '.join(map(str, cfg.seeds))}. WER (%) mean ± std over seeds; 95 % bootstrap CI over "
             "utterances (seed-averaged errors); paired differences (negative = better) with 95 % CIs.", "",
             "| hours | system | seeds | WER mean ± std | 95 % CI | Δ vs ce | Δ CI | P(better than ce) | Δ vs interp | "
             "Δ CI | per-seed WER |",
             "|---:|---|---:|---|---|---:|---|---:|---:|---|---|"]
    for p in points:
        by_interp = {s.name: s for s in p.vs_interp}
        for s in p.vs_ce:
            i = by_interp[s.name]
            lines.append(
                f"| {p.hours:g} | {s.name} | {len(s.seeds)} | {s.mean:.2f} ± {s.std:.2f} | [{s.ci[0]:.2f}, {s.ci[1]:.2f}] | "
                f"{'' if s.diff is None else f'{s.diff:+.2f}'} | {_fmt(s.diff_ci)} | "
                f"{'' if s.p_better is None else f'{s.p_better:.2f}'} | {'' if i.diff is None else f'{i.diff:+.2f}'} | "
                f"{_fmt(i.diff_ci)} | {', '.join(f'{w:.2f}' for w in s.wers)} |")
    lines += ["", "Options of each system (dev-tuned): " + ", ".join(
        f"{s}: {chosen.get('system_options', {}).get(s, {}) or 'defaults'}" for s in chosen["systems"]), ""]
    return "\n".join(lines)


def teacher_pairs(cfg: LearningCurveConfig) -> List[Tuple[str, Path, Path]]:
    """(unit, teacher without span masking, span-masked teacher) at the tuning size.

    The span-masked teachers are the config's ``ablation.teachers`` (``{tag}`` filled in);
    the teacher without span masking is the same directory without its ``_span`` suffix
    (as ``run_learning_curve.sh`` names them).
    """
    tag = size_tag(cfg.tune_size)
    pairs = []
    for unit, tmpl in dict(cfg.ablation.get("teachers", {})).items():
        span = Path(str(tmpl).format(tag=tag))
        pairs.append((unit, span.with_name(span.name[:-len("_span")] if span.name.endswith("_span") else span.name),
                      span))
    return pairs


def _curve_summary(exp: Path) -> str:
    """"<steps trained> / best at <step> (ppl <p>)" from ``ppl_curve.tsv``, or "" without one."""
    f = exp / "ppl_curve.tsv"
    if not f.exists():
        return ""
    rows = [line.split("\t") for line in f.read_text().splitlines()[1:] if line.strip()]
    if not rows:
        return ""
    best = min(rows, key=lambda r: float(r[2]))
    return f"{rows[-1][0]} / {best[0]} ({float(best[2]):.2f})"


def teacher_markdown(cfg: LearningCurveConfig) -> str:
    """What each teacher knows (``teacher_stats.json`` of ``steps_py/lm_ppl.py``), without and with span
    masking: on the tuning size's training alignments and on the held-out LM text."""
    lines = [f"## Teacher diagnostics (alignments of the {size_tag(cfg.tune_size)} training set; held-out text)", "",
             "ppl = perplexity, H = mean entropy of q (nats), p(true) = mean probability of the label, "
             "top-1 = argmax q equals the label. Steps: trained / best (its held-out ppl).", "",
             "| unit | span | steps / best (ppl) | ali ppl | ali H | ali p(true) | ali top-1 | held-out ppl | "
             "held-out H | held-out p(true) | held-out top-1 |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for unit, before, after in teacher_pairs(cfg):
        for exp in (before, after):
            f = exp / "teacher_stats.json"
            if not f.exists():
                continue
            stats = json.loads(f.read_text())
            ali = [v for k, v in stats.items() if "valid" not in Path(k).name]
            held = [v for k, v in stats.items() if "valid" in Path(k).name]
            cells = []
            for st in (ali[0] if ali else None, held[0] if held else None):
                cells += (["", "", "", ""] if st is None else
                          [f"{st['ppl']:.2f}", f"{st['entropy']:.2f}", f"{st['p_true']:.3f}", f"{st['top1']:.3f}"])
            span = (ali or held)[0]["span"] if (ali or held) else ""
            lines.append(f"| {unit} | {span} | {_curve_summary(exp)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def curve_json(points: Sequence[CurvePoint]) -> Dict[str, object]:
    out = []
    for p in points:
        by_interp = {s.name: s for s in p.vs_interp}
        for s in p.vs_ce:
            i = by_interp[s.name]
            out.append({"hours": p.hours, "system": s.name, "seeds": s.seeds, "wers": s.wers, "mean": s.mean,
                        "std": s.std, "ci": s.ci, "diff_vs_ce": s.diff, "diff_vs_ce_ci": s.diff_ci,
                        "p_better_than_ce": s.p_better, "diff_vs_interp": i.diff, "diff_vs_interp_ci": i.diff_ci,
                        "decode_dirs": s.decode_dirs})
    return {"points": out}


def plot_curve(points: Sequence[CurvePoint], path: PathLike) -> Path:
    """Left: test WER against hours per system (mean ± std over seeds). Right: relative
    WER reduction against ce (%, with the paired 95 % CI) against hours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    systems = list(dict.fromkeys(s.name for p in points for s in p.vs_ce))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for k, name in enumerate(systems):
        xs, ys, es, gains, lo, hi = [], [], [], [], [], []
        for p in points:
            s = next((s for s in p.vs_ce if s.name == name), None)
            ce = next(s for s in p.vs_ce if s.name == "ce")
            if s is None:
                continue
            xs.append(p.hours * (1 + 0.03 * (k - len(systems) / 2)))
            ys.append(s.mean)
            es.append(s.std)
            if s.diff is not None:
                gains.append(-100 * s.diff / ce.mean)
                lo.append(-100 * s.diff_ci[1] / ce.mean)
                hi.append(-100 * s.diff_ci[0] / ce.mean)
        ax1.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name, color=f"C{k}")
        if gains:
            g = np.asarray(gains)
            ax2.errorbar(xs, g, yerr=[g - np.asarray(lo), np.asarray(hi) - g], marker="o", capsize=3, label=name,
                         color=f"C{k}")  # the same colour per system in both panels
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks([p.hours for p in points], [f"{p.hours:g}" for p in points])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("transcribed audio (hours)")
        ax.legend(fontsize=8)
    ax1.set_ylabel("test WER (%)")
    ax1.set_title("WER (mean ± std over seeds)")
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_ylabel("relative WER reduction vs ce (%)")
    ax2.set_title("KD gain (paired 95 % CI)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def write_summary(cfg: LearningCurveConfig, complete_only: bool = True,
                  reader: Callable[[Path], DecodeResult] = read_decode_dir) -> Path:
    """``RESULTS.md``, ``curve.png`` and ``curve.json`` under ``exp_root``; returns RESULTS.md.

    Raises:
        LearningCurveError: when no size has scored results yet.
    """
    points = collect_curve(cfg, reader, complete_only)
    if not points:
        raise LearningCurveError(f"{cfg.exp_root}: no size has every system and seed scored yet")
    root = Path(cfg.exp_root)
    chosen = load_choice(cfg)
    plot_curve(points, root / "curve.png")
    write_text_atomic(root / "curve.json", json.dumps(curve_json(points), indent=1) + "\n")
    md = root / "RESULTS.md"
    write_text_atomic(md, curve_markdown(cfg, points, chosen) + "\n![learning curve](curve.png)\n\n"
                      + teacher_markdown(cfg))
    return md
