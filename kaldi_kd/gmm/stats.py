"""Vectorised GMM and transition statistics: ``gmm-acc-stats-ali`` + ``gmm-est``.

Accumulation runs in numpy over all frames of a pdf at once: frames are grouped
by pdf-id (from transition-id alignments), each group's Gaussian log-likelihoods
are one matrix product, posteriors over the pdf's mixture components a softmax,
and the zeroth/first/second-order statistics three reductions.  Transition
statistics are a bincount of transition-ids.

The update is the wheel's (Kaldi's own) code: stats are loaded into an
``AccumAmDiagGmm`` with ``add_stats_for_component`` and passed to
``mle_am_diag_gmm_update`` (gmm-est's ML update: weight/occupancy floors, variance
floor, removal of low-count Gaussians), transitions to ``TransitionModel.mle_update``,
then ``AmDiagGmm.split_by_count`` mixes up toward a target Gaussian count.

Per-job statistics are kept as :class:`GmmStats` (pickled between processes, saved
as ``.npz`` between ``$cmd`` jobs; not Kaldi's binary accs format).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import MissingFileError
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

PathLike = Union[str, os.PathLike]


@dataclass
class GmmStats:
    """Sufficient statistics for an AmDiagGmm plus transition counts.

    Attributes:
        occ: per pdf, (num_gauss,) occupancies.
        x: per pdf, (num_gauss, dim) first-order stats.
        x2: per pdf, (num_gauss, dim) second-order stats.
        trans: (num_transition_ids + 1,) transition-id counts (index 0 unused).
        tot_like: total log-likelihood of the accumulated frames.
        tot_frames: number (weight) of accumulated frames.
    """

    occ: List[np.ndarray]
    x: List[np.ndarray]
    x2: List[np.ndarray]
    trans: np.ndarray
    tot_like: float = 0.0
    tot_frames: float = 0.0

    @classmethod
    def zeros(cls, am_gmm, trans_model) -> "GmmStats":
        """Empty statistics shaped for ``am_gmm`` and ``trans_model``."""
        dim = am_gmm.dim
        sizes = [am_gmm.num_gauss_in_pdf(p) for p in range(am_gmm.num_pdfs)]
        return cls([np.zeros(m) for m in sizes], [np.zeros((m, dim)) for m in sizes],
                   [np.zeros((m, dim)) for m in sizes],
                   np.zeros(trans_model.num_transition_ids + 1))

    def add(self, other: "GmmStats") -> "GmmStats":
        """Add ``other`` into these statistics (same shapes) and return self."""
        for mine, theirs in ((self.occ, other.occ), (self.x, other.x), (self.x2, other.x2)):
            for a, b in zip(mine, theirs):
                a += b
        self.trans += other.trans
        self.tot_like += other.tot_like
        self.tot_frames += other.tot_frames
        return self

    def pdf_occs(self) -> np.ndarray:
        """Per-pdf total occupancy (what gmm-est calls state occupancies)."""
        return np.array([o.sum() for o in self.occ])

    @property
    def like_per_frame(self) -> float:
        """Average log-likelihood per frame (0 with no frames)."""
        return self.tot_like / self.tot_frames if self.tot_frames else 0.0

    def save(self, path: PathLike) -> None:
        """Save to ``path`` (.npz), atomically."""
        arrays = {"trans": self.trans, "tot": np.array([self.tot_like, self.tot_frames])}
        for i, (o, x, x2) in enumerate(zip(self.occ, self.x, self.x2)):
            arrays[f"o{i}"], arrays[f"x{i}"], arrays[f"s{i}"] = o, x, x2
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, num_pdfs=np.array(len(self.occ)), **arrays)

    @classmethod
    def load(cls, path: PathLike) -> "GmmStats":
        """Load statistics saved by :meth:`save`."""
        with np.load(path) as z:
            n = int(z["num_pdfs"])
            return cls([z[f"o{i}"] for i in range(n)], [z[f"x{i}"] for i in range(n)],
                       [z[f"s{i}"] for i in range(n)], z["trans"],
                       float(z["tot"][0]), float(z["tot"][1]))


_BLAS_SET_THREADS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
                     "openblas_set_num_threads64_", "scipy_openblas_set_num_threads")


def limit_blas_threads(num_threads: int = 1) -> bool:
    """Set the thread count of numpy's OpenBLAS (already loaded) at run time.

    The per-pdf products here are small; OpenBLAS's own threads then spin against
    each other (on 2 shared cores accumulation went from 0.3 s to 20 s).  Jobs run
    single-threaded and parallelise over data splits instead.  No-op (False) when
    the BLAS is not OpenBLAS.
    """
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "openblas" in ln and ".so" in ln})
    except OSError:
        return False
    done = False
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in _BLAS_SET_THREADS:
            if hasattr(lib, name):
                getattr(lib, name)(int(num_threads))
                done = True
    return done


def pdf_params(am_gmm) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per pdf (gconsts, means_invvars, inv_vars) as float64 arrays."""
    out = []
    for p in range(am_gmm.num_pdfs):
        g = am_gmm.get_pdf(p)
        if not g.valid_gconsts:
            g.compute_gconsts()
        out.append((np.asarray(g.gconsts, np.float64), np.asarray(g.means_invvars, np.float64),
                    np.asarray(g.inv_vars, np.float64)))
    return out


def component_loglikes(feats: np.ndarray, params: Tuple[np.ndarray, np.ndarray, np.ndarray]
                       ) -> np.ndarray:
    """(N, M) log p(x_t, m) for all frames and mixture components of one pdf.

    log N(x; mu, diag(var)) + log w = gconst + x . (mu/var) - 0.5 x^2 . (1/var)
    """
    gconsts, means_invvars, inv_vars = params
    return gconsts + feats @ means_invvars.T - 0.5 * ((feats * feats) @ inv_vars.T)


def _logsumexp(ll: np.ndarray) -> np.ndarray:
    top = ll.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(ll - top).sum(axis=1, keepdims=True)))[:, 0]


def accumulate(stats: GmmStats, params, feats: np.ndarray, pdfs: np.ndarray,
               weights: Optional[np.ndarray] = None) -> float:
    """Add GMM statistics for frames ``feats`` aligned to ``pdfs`` (gmm-acc-stats-ali).

    Args:
        stats: statistics to add to.
        params: :func:`pdf_params` of the current model.
        feats: (N, D) features (all frames of any number of utterances).
        pdfs: (N,) pdf-id per frame.
        weights: optional (N,) frame weights (default 1).

    Returns:
        the total log-likelihood of these frames (also added to ``stats``).
    """
    feats = np.asarray(feats, dtype=np.float64)
    pdfs = np.asarray(pdfs)
    order = np.argsort(pdfs, kind="stable")
    uniq, starts = np.unique(pdfs[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    total = 0.0
    for pdf, s, e in zip(uniq.tolist(), starts.tolist(), ends.tolist()):
        idx = order[s:e]
        x = feats[idx]
        ll = component_loglikes(x, params[pdf])
        lse = _logsumexp(ll)
        post = np.exp(ll - lse[:, None])
        if weights is not None:
            w = weights[idx]
            post *= w[:, None]
            total += float(w @ lse)
        else:
            total += float(lse.sum())
        stats.occ[pdf] += post.sum(axis=0)
        stats.x[pdf] += post.T @ x
        stats.x2[pdf] += post.T @ (x * x)
    stats.tot_like += total
    stats.tot_frames += float(len(pdfs) if weights is None else weights.sum())
    return total


def accumulate_transitions(stats: GmmStats, alignment: np.ndarray) -> None:
    """Add transition-id counts of one alignment (TransitionModel::Accumulate per frame)."""
    stats.trans += np.bincount(np.asarray(alignment), minlength=len(stats.trans))


@dataclass
class UpdateConfig:
    """gmm-est options (Kaldi defaults; train_mono.sh passes min_gaussian_occupancy=3 first)."""

    min_gaussian_weight: float = 1e-5
    min_gaussian_occupancy: float = 10.0
    min_variance: float = 0.001
    remove_low_count_gaussians: bool = True
    transition_floor: float = 0.01
    transition_mincount: float = 5.0
    mix_up: int = 0
    mix_down: int = 0
    power: float = 0.2
    perturb_factor: float = 0.01
    min_count: float = 20.0
    update_flags: str = "mvwt"


@dataclass
class UpdateResult:
    """What gmm-est logs."""

    gmm_objf_impr: float
    gmm_count: float
    trans_objf_impr: float
    trans_count: float
    num_gauss: int
    like_per_frame: float
    frames: float = field(default=0.0)


def to_wheel_accs(am_gmm, stats: GmmStats, flags: int):
    """Load ``stats`` into a wheel ``AccumAmDiagGmm`` (exactly, up to float32 data).

    The binding's ``get_acc`` returns a copy, so statistics go in through
    ``accumulate_for_gaussian`` (adds w, w*x, w*x^2): two pseudo-frames per Gaussian,
    x = m +/- s with weight occ/2 each (m = mean, s = per-dimension standard
    deviation), reproduce the zeroth, first and second-order statistics.
    """
    acc = kaldi_hmm_gmm.AccumAmDiagGmm()
    acc.init(am_gmm, flags)
    for pdf in range(am_gmm.num_pdfs):
        occ, x, x2 = stats.occ[pdf], stats.x[pdf], stats.x2[pdf]
        for g in np.nonzero(occ > 0)[0].tolist():
            o = float(occ[g])
            mean = x[g] / o
            std = np.sqrt(np.maximum(x2[g] / o - mean * mean, 0.0))
            for sign in (1.0, -1.0):
                acc.accumulate_for_gaussian(am_gmm, (mean + sign * std).astype(np.float32),
                                            pdf, g, o / 2)
    return acc


def update_model(trans_model, am_gmm, stats: GmmStats, cfg: UpdateConfig) -> UpdateResult:
    """ML update of ``trans_model`` and ``am_gmm`` in place, then mix-up (gmm-est).

    Args:
        trans_model: wheel TransitionModel (updated if 't' in flags).
        am_gmm: wheel AmDiagGmm (updated, then split toward ``cfg.mix_up`` Gaussians).
        stats: summed statistics from :func:`accumulate`.
        cfg: options.
    """
    flags = kaldi_hmm_gmm.str_to_gmm_flags(cfg.update_flags)
    t_impr = t_count = 0.0
    if "t" in cfg.update_flags:
        tcfg = kaldi_hmm_gmm.MleTransitionUpdateConfig(floor=cfg.transition_floor,
                                                       mincount=cfg.transition_mincount)
        t_impr, t_count = trans_model.mle_update(stats.trans.astype(np.float64), tcfg)
    acc = to_wheel_accs(am_gmm, stats, flags)
    opts = kaldi_hmm_gmm.MleDiagGmmOptions(
        min_gaussian_weight=cfg.min_gaussian_weight,
        min_gaussian_occupancy=cfg.min_gaussian_occupancy,
        min_variance=cfg.min_variance,
        remove_low_count_gaussians=cfg.remove_low_count_gaussians)
    g_impr, g_count = kaldi_hmm_gmm.mle_am_diag_gmm_update(opts, acc, flags, am_gmm)
    occs = stats.pdf_occs().astype(np.float32)
    if cfg.mix_up > am_gmm.num_gauss:
        split_by_count(am_gmm, occs, cfg.mix_up, cfg.perturb_factor, cfg.power, cfg.min_count)
    if 0 < cfg.mix_down < am_gmm.num_gauss:
        am_gmm.merge_by_count(occs, cfg.mix_down, cfg.power, cfg.min_count)
    am_gmm.compute_gconsts()
    return UpdateResult(g_impr, g_count, t_impr, t_count, am_gmm.num_gauss,
                        stats.like_per_frame, stats.tot_frames)


def split_by_count(am_gmm, state_occs: np.ndarray, target: int, perturb_factor: float, power: float,
                   min_count: float) -> None:
    """gmm-est's mix-up (``AmDiagGmm::SplitByCount``) with a reproducible perturbation.

    The wheel draws the perturbation from ``std::random_device``, so two runs differ.
    Here the wheel only allocates the Gaussians (Kaldi's per-pdf targets from occupancy
    ``^ power``, at least ``min_count`` each) and copies the split components unperturbed;
    which component each new one copies is Kaldi's ``DiagGmm::Split`` order (the heaviest
    first).  Then, as Kaldi does, the pair's means move apart by
    ``± perturb_factor * N(0, 1) * stddev``, the normal draws from a generator seeded
    by the Gaussian counts.
    """
    before = [am_gmm.num_gauss_in_pdf(p) for p in range(am_gmm.num_pdfs)]
    saved = []
    for p in range(am_gmm.num_pdfs):
        g = kaldi_hmm_gmm.DiagGmm()
        g.copy_from_diag_gmm(am_gmm.get_pdf(p))
        saved.append(g)
    am_gmm.split_by_count(state_occs, target, 0.0, power, min_count)
    rng = np.random.default_rng([sum(before), int(target)])
    for p, n0 in enumerate(before):
        n1 = am_gmm.num_gauss_in_pdf(p)
        if n1 <= n0:
            continue
        history = saved[p].split(n1, 0.0)            # the component each new one copies
        gmm = am_gmm.get_pdf(p)
        means = np.asarray(gmm.means, np.float64).copy()
        std = np.sqrt(np.asarray(gmm.vars, np.float64))
        for new, src in enumerate(history, start=n0):
            delta = perturb_factor * rng.standard_normal(means.shape[1]) * std[src]
            means[new] = means[src] + delta
            means[src] -= delta
        gmm.set_means(means.astype(np.float32))
    am_gmm.compute_gconsts()


def sum_stats(parts: Iterable[GmmStats]) -> GmmStats:
    """Sum per-job statistics (gmm-sum-accs)."""
    parts = list(parts)
    if not parts:
        raise ValueError("no statistics to sum")
    total = parts[0]
    for p in parts[1:]:
        total.add(p)
    return total


def load_and_sum(paths: Iterable[PathLike]) -> GmmStats:
    """Load and sum ``.npz`` statistics, naming a missing file."""
    loaded = []
    for p in paths:
        if not Path(p).is_file():
            raise MissingFileError(p)
        loaded.append(GmmStats.load(p))
    return sum_stats(loaded)
