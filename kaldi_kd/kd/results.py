"""Ablation results: WER over seeds, bootstrap CIs, paired differences, RESULTS.md, a bar chart.

Input is a set of real decode dirs (``exp/<system>_seed<s>/decode_<set>``), each scored
by the decode stage: ``best_wer`` (Kaldi's ``%WER x.xx [ e / n, i ins, d del, s sub ] ...``
line) and per-utterance error counts at the best LMWT/WIP. For each system:

- WER mean ± std over seeds (each seed's corpus WER from its best_wer);
- a 95 % bootstrap CI (Bisani & Ney): utterances resampled with replacement, the system's
  WER on a resample = sum of seed-averaged errors / sum of reference words;
- the paired difference against the baseline (CE): the same resamples applied to both
  systems' per-utterance errors, CI of WER(system) - WER(baseline), and the probability
  that the system is better.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import atomic_path, write_text_atomic

PathLike = Union[str, Path]


@dataclass
class DecodeResult:
    """One scored decode dir.

    Attributes:
        decode_dir: the directory.
        wer: corpus WER in percent, from ``best_wer``.
        best_wer: the ``best_wer`` line as written.
        errors: utterance -> word errors (sub + del + ins) at the best setting.
        ref_words: utterance -> reference word count.
    """

    decode_dir: Path
    wer: float
    best_wer: str
    errors: Dict[str, int]
    ref_words: Dict[str, int]


@dataclass
class SystemSummary:
    """A system's WER over seeds and its comparison with the baseline."""

    name: str
    seeds: List[int]
    wers: List[float]
    mean: float
    std: float
    ci: Tuple[float, float]
    diff: Optional[float] = None
    diff_ci: Optional[Tuple[float, float]] = None
    p_better: Optional[float] = None
    decode_dirs: List[str] = field(default_factory=list)


_WER_RE = re.compile(r"%WER\s+([0-9.]+|nan|inf)\s*\[\s*(\d+)\s*/\s*(\d+)")


def parse_best_wer(path: PathLike) -> Tuple[float, int, int, str]:
    """Read a Kaldi ``best_wer`` file: (wer %, errors, ref words, the line).

    Raises:
        ValueError: naming the file when no ``%WER x [ e / n ...`` line is found.
    """
    path = Path(path)
    for line in path.read_text().splitlines():
        m = _WER_RE.search(line)
        if m:
            return float(m.group(1)), int(m.group(2)), int(m.group(3)), line.strip()
    raise ValueError(f"{path}: no '%WER x [ errors / words ...' line")


def parse_per_utt(path: PathLike) -> Tuple[Dict[str, int], Dict[str, int]]:
    """Read Kaldi's ``wer_details/per_utt`` (``<utt> #csid C S I D`` lines).

    Returns:
        (errors, ref_words): utt -> S + I + D, utt -> C + S + D.
    """
    errors: Dict[str, int] = {}
    words: Dict[str, int] = {}
    path = Path(path)
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "#csid":
            if len(fields) != 6:
                raise ValueError(f"{path}:{lineno}: expected '<utt> #csid C S I D'")
            c, s, i, d = (int(x) for x in fields[2:])
            errors[fields[0]] = s + i + d
            words[fields[0]] = c + s + d
    if not errors:
        raise ValueError(f"{path}: no '#csid' lines")
    return errors, words


def find_scoring_file(decode_dir: PathLike, name: str) -> Path:
    """``<dir>/<name>`` or ``<dir>/scoring_kaldi/<name>`` (Kaldi's two layouts)."""
    decode_dir = Path(decode_dir)
    for cand in (decode_dir / name, decode_dir / "scoring_kaldi" / name):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"expected file {decode_dir / name} (or scoring_kaldi/{name}) to exist: not scored?")


def read_decode_dir(decode_dir: PathLike) -> DecodeResult:
    """A scored Kaldi decode dir: ``best_wer`` and ``wer_details/per_utt`` at the best setting.

    Raises:
        FileNotFoundError / ValueError: naming the missing or malformed file, or when the
            per-utterance errors do not add up to best_wer's error count.
    """
    decode_dir = Path(decode_dir)
    best = find_scoring_file(decode_dir, "best_wer")
    wer, n_err, n_words, line = parse_best_wer(best)
    per_utt = find_scoring_file(decode_dir, "wer_details/per_utt")
    errors, words = parse_per_utt(per_utt)
    if sum(errors.values()) != n_err or sum(words.values()) != n_words:
        raise ValueError(
            f"{per_utt}: {sum(errors.values())} errors / {sum(words.values())} words, but {best} says "
            f"{n_err} / {n_words}: per_utt is not from the best LMWT/WIP"
        )
    return DecodeResult(decode_dir, wer, line, errors, words)


def seed_matrix(results: Sequence[DecodeResult], utts: Sequence[str]) -> np.ndarray:
    """(seeds, utts) word-error counts; an utterance missing in a seed's dir raises."""
    rows = []
    for r in results:
        missing = [u for u in utts if u not in r.errors]
        if missing:
            raise ValueError(f"{r.decode_dir}: no per-utterance result for {missing[0]} ({len(missing)} missing)")
        rows.append([r.errors[u] for u in utts])
    return np.asarray(rows, dtype=np.float64)


def common_utts(results: Sequence[DecodeResult]) -> Tuple[List[str], np.ndarray]:
    """Utterances of the first result (sorted) and their reference word counts.

    Raises:
        ValueError: when another result has a different reference length for an utterance.
    """
    first = results[0]
    utts = sorted(first.ref_words)
    for r in results[1:]:
        for u in utts:
            if u in r.ref_words and r.ref_words[u] != first.ref_words[u]:
                raise ValueError(
                    f"{r.decode_dir}: utterance {u} has {r.ref_words[u]} reference words, "
                    f"{first.decode_dir} has {first.ref_words[u]}: not the same test set"
                )
    return utts, np.asarray([first.ref_words[u] for u in utts], dtype=np.float64)


def bootstrap_indices(num_utts: int, replications: int = 1000, seed: int = 0) -> np.ndarray:
    """(replications, num_utts) utterance indices drawn with replacement."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_utts, size=(replications, num_utts))


def bootstrap_wer(errors: np.ndarray, words: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """WER (%) of each resample: errors (U,), words (U,), idx (R, U) -> (R,)."""
    return 100.0 * errors[idx].sum(1) / np.maximum(words[idx].sum(1), 1)


def _ci(samples: np.ndarray, level: float = 0.95) -> Tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def summarise(
    systems: Mapping[str, Mapping[int, DecodeResult]],
    baseline: Optional[str] = "ce",
    replications: int = 1000,
    seed: int = 0,
) -> List[SystemSummary]:
    """Summaries of every system (in the mapping's order).

    Args:
        systems: system name -> seed -> its scored decode dir.
        baseline: the system the paired differences are taken against (None: no diffs).
        replications: bootstrap resamples.
        seed: RNG seed of the resampling (the same resamples for every system).
    """
    all_results = [r for per_seed in systems.values() for r in per_seed.values()]
    if not all_results:
        raise ValueError("no decode results to summarise")
    utts, words = common_utts(all_results)
    idx = bootstrap_indices(len(utts), replications, seed)
    mean_err = {name: seed_matrix(list(res.values()), utts).mean(0) for name, res in systems.items()}
    boot = {name: bootstrap_wer(e, words, idx) for name, e in mean_err.items()}
    out = []
    for name, per_seed in systems.items():
        wers = [per_seed[s].wer for s in sorted(per_seed)]
        summary = SystemSummary(
            name=name,
            seeds=sorted(per_seed),
            wers=wers,
            mean=float(np.mean(wers)),
            std=float(np.std(wers, ddof=1)) if len(wers) > 1 else 0.0,
            ci=_ci(boot[name]),
            decode_dirs=[str(per_seed[s].decode_dir) for s in sorted(per_seed)],
        )
        if baseline is not None and baseline in systems and name != baseline:
            delta = boot[name] - boot[baseline]
            summary.diff = float(100.0 * (mean_err[name].sum() - mean_err[baseline].sum()) / max(words.sum(), 1))
            summary.diff_ci = _ci(delta)
            summary.p_better = float((delta < 0).mean())
        out.append(summary)
    return out


def _fmt_ci(ci: Optional[Tuple[float, float]]) -> str:
    return "" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def results_markdown(
    summaries: Sequence[SystemSummary], title: str = "KD ablation", baseline: str = "ce", notes: str = ""
) -> str:
    """The RESULTS.md text: one table row per system, then each system's decode dirs."""
    lines = [
        f"# {title}",
        "",
        "WER (%) mean ± std over seeds; 95 % bootstrap CI over utterances (seed-averaged errors);",
        f"paired difference against {baseline} (negative = better) with its 95 % CI and P(better).",
        "",
        "| system | seeds | WER mean ± std | 95 % CI | Δ vs " + baseline + " | Δ 95 % CI | P(better) | per-seed WER |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        diff = "" if s.diff is None else f"{s.diff:+.2f}"
        p = "" if s.p_better is None else f"{s.p_better:.2f}"
        per_seed = ", ".join(f"{w:.2f}" for w in s.wers)
        lines.append(
            f"| {s.name} | {len(s.seeds)} | {s.mean:.2f} ± {s.std:.2f} | {_fmt_ci(s.ci)} | {diff} | "
            f"{_fmt_ci(s.diff_ci)} | {p} | {per_seed} |"
        )
    lines += ["", "Decode dirs:", ""]
    lines += [f"- {s.name}: " + ", ".join(f"`{d}`" for d in s.decode_dirs) for s in summaries]
    if notes:
        lines += ["", notes.rstrip()]
    return "\n".join(lines) + "\n"


def plot_results(summaries: Sequence[SystemSummary], path: PathLike, title: str = "KD ablation") -> Path:
    """Bar chart of mean WER per system with std error bars (and seed dots); PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.name for s in summaries]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 4))
    ax.bar(x, [s.mean for s in summaries], yerr=[s.std for s in summaries], capsize=5, color="#7fa7d9",
           edgecolor="black", label="mean ± std over seeds")
    for i, s in enumerate(summaries):
        ax.plot([i] * len(s.wers), s.wers, "k.", alpha=0.6)
        ax.vlines(i + 0.25, s.ci[0], s.ci[1], colors="#c0392b", lw=2, label="95 % bootstrap CI" if i == 0 else None)
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("WER (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def write_results(
    summaries: Sequence[SystemSummary], out_dir: PathLike, title: str = "KD ablation", baseline: str = "ce",
    notes: str = "",
) -> Tuple[Path, Path]:
    """Write ``RESULTS.md`` and ``wer.png`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    md = out_dir / "RESULTS.md"
    png = out_dir / "wer.png"
    plot_results(summaries, png, title)
    write_text_atomic(md, results_markdown(summaries, title, baseline, notes.rstrip() + f"\n\n![WER per system]({png.name})\n"))
    return md, png
