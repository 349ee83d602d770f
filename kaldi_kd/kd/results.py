"""Ablation results: WER over seeds, bootstrap CIs, paired differences, RESULTS.md, a bar chart.

Input is a set of real decode dirs (``exp/<system>_seed<s>/decode_<set>``), each scored
by the decode stage: ``best_wer`` (Kaldi's ``%WER x.xx [ e / n, i ins, d del, s sub ] ...``
line) and per-utterance error counts at the best LMWT/WIP. For each system:

- WER mean ± std over seeds (each seed's corpus WER from its best_wer);
- a 95 % bootstrap CI (Bisani & Ney, as :mod:`kaldi_kd.score.ci`): utterances resampled with replacement, the system's
  WER on a resample = sum of seed-averaged errors / sum of reference words;
- the paired difference against the baseline (CE): the same resamples applied to both
  systems' per-utterance errors, CI of WER(system) - WER(baseline), and the probability
  that the system is better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.errors import InputError, MissingFileError

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


def read_pra_counts(path: PathLike) -> Dict[str, Tuple[int, int]]:
    """sclite ``.pra`` report: sclite id -> (errors, reference words) from its Scores lines."""
    out: Dict[str, Tuple[int, int]] = {}
    current = None
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("id: (") and line.rstrip().endswith(")"):
            current = line.strip()[5:-1]
        elif line.startswith("Scores: (#C #S #D #I)") and current is not None:
            c, s, d, i = (int(x) for x in line.split()[-4:])
            out[current] = (s + d + i, c + s + d)
            current = None
    return out


def _match_ids(pra: Mapping[str, Tuple[int, int]], utts: Sequence[str]) -> Optional[Dict[str, Tuple[int, int]]]:
    """Map sclite ids (``utt`` or ``<spk>-<utt>``) back to utterance ids; None if any is unmatched."""
    known = set(utts)
    out = {}
    for sid, v in pra.items():
        utt = sid
        while utt not in known and "-" in utt:
            utt = utt.split("-", 1)[1]
        if utt not in known:
            return None
        out[utt] = v
    return out if len(out) == len(known) else None


def read_decode_dir(decode_dir: PathLike) -> DecodeResult:
    """A scored decode dir (``steps_py/score.py`` or Kaldi's score_kaldi.sh layout).

    The WER is ``scoring_kaldi/best_wer`` (read with :func:`kaldi_kd.score.score_dir.read_best`).
    Per-utterance error counts are those of the same sclite run when its ``.pra`` report
    is there (``scoring_kaldi/sclite/<best wer file>.pra``), else
    ``scoring_kaldi/wer_details/per_utt``; either must add up to best_wer's counts.

    Raises:
        ScoringError / FileNotFoundError / ValueError: naming the missing or malformed
            file, or when the per-utterance errors do not add up to best_wer's.
    """
    from kaldi_kd.score.score_dir import read_best, read_per_utt

    decode_dir = Path(decode_dir)
    best, wer_file = read_best(decode_dir)
    per_utt = decode_dir / "scoring_kaldi" / "wer_details" / "per_utt"
    if not per_utt.is_file():
        raise MissingFileError(per_utt, "scored by an older scorer?")
    counts = {u: (c.errors, c.ref_words) for u, c in read_per_utt(per_utt).items()}
    if not counts:
        raise InputError(f"{per_utt}: no '<utt> #csid C S I D' lines")
    source = per_utt
    pra = decode_dir / "scoring_kaldi" / "sclite" / f"{Path(wer_file).name}.pra"
    if pra.is_file():
        matched = _match_ids(read_pra_counts(pra), list(counts))
        if matched is not None:
            counts, source = matched, pra
    n_err = sum(e for e, _ in counts.values())
    n_words = sum(w for _, w in counts.values())
    if n_err != best.errors or n_words != best.ref_words:
        raise InputError(
            f"{source}: {n_err} errors / {n_words} words, but best_wer says {best.errors} / {best.ref_words}: "
            f"per-utterance results are not from the best LMWT/WIP"
        )
    return DecodeResult(
        decode_dir, best.wer, f"{best.kaldi_line()} {wer_file}",
        {u: e for u, (e, _) in counts.items()}, {u: w for u, (_, w) in counts.items()},
    )


def seed_matrix(results: Sequence[DecodeResult], utts: Sequence[str]) -> np.ndarray:
    """(seeds, utts) word-error counts; an utterance missing in a seed's dir raises."""
    rows = []
    for r in results:
        missing = [u for u in utts if u not in r.errors]
        if missing:
            raise InputError(f"{r.decode_dir}: no per-utterance result for {missing[0]} ({len(missing)} missing)")
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
                raise InputError(
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
        raise InputError("no decode results to summarise")
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
