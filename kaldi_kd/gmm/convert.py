"""From a built tree to a trainable model: ``gmm-init-model`` and ``convert-ali``.

- :func:`init_model_from_tree`: a TransitionModel for the new tree (transition
  probabilities from the topology) and one Gaussian per pdf from the tree
  statistics of the events mapped to it (a pdf without statistics backs off to the
  pooled statistics, with a warning, so the model stays usable).
- :func:`convert_alignment`: map each frame's transition-id of an alignment made with
  one model to the transition-id of another (same topology, other tree), the pdf
  recomputed from the phone context window of the frame's phone instance.
"""

from __future__ import annotations

import logging
from typing import Dict, Tuple

import numpy as np

from kaldi_kd.gmm.model_io import transition_model_data
from kaldi_kd.gmm.tree_stats import VAR_FLOOR, TransitionTables, TreeStats, phone_instances
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

log = logging.getLogger(__name__)


def init_model_from_tree(ctx_dep, topo, stats: TreeStats, event_pdf: np.ndarray,
                         var_floor: float = VAR_FLOOR):
    """gmm-init-model: (TransitionModel, AmDiagGmm) with single-Gaussian pdfs.

    Args:
        ctx_dep: the new tree (wheel ContextDependency).
        topo: HmmTopology.
        stats: tree statistics; ``event_pdf`` the pdf-id of each of its events.
    """
    tm = kaldi_hmm_gmm.TransitionModel(ctx_dep, topo)
    num_pdfs = ctx_dep.num_pdfs
    dim = stats.dim
    tot = (stats.count.sum(), stats.x.sum(axis=0), stats.x2.sum(axis=0))
    c = np.bincount(event_pdf, weights=stats.count, minlength=num_pdfs)
    x = np.zeros((num_pdfs, dim))
    x2 = np.zeros((num_pdfs, dim))
    np.add.at(x, event_pdf, stats.x)
    np.add.at(x2, event_pdf, stats.x2)
    am = kaldi_hmm_gmm.AmDiagGmm()
    empty = [pdf for pdf in range(num_pdfs) if c[pdf] <= 0]
    if empty:
        log.warning("%d pdfs have no statistics (phones unseen in the alignments), "
                    "initialised from the pooled statistics: %s", len(empty),
                    " ".join(map(str, empty)))
    for pdf in range(num_pdfs):
        n, sx, sx2 = c[pdf], x[pdf], x2[pdf]
        if n <= 0:
            n, sx, sx2 = tot
        mean = sx / n
        var = np.maximum(sx2 / n - mean * mean, var_floor)
        gmm = kaldi_hmm_gmm.DiagGmm(1, dim)
        gmm.set_weights(np.ones(1, np.float32))
        gmm.set_invvars_and_means((1.0 / var).astype(np.float32)[None],
                                  mean.astype(np.float32)[None])
        gmm.compute_gconsts()
        am.add_pdf(gmm)
    am.compute_gconsts()
    return tm, am


class AlignmentConverter:
    """convert-ali from ``old_tm`` alignments to ``new_tm`` + ``new_ctx`` transition-ids."""

    def __init__(self, old_tm, new_tm, new_ctx):
        self.old = TransitionTables.from_model(old_tm)
        self.old_tm, self.new_tm, self.ctx = old_tm, new_tm, new_ctx
        data = transition_model_data(new_tm)
        self.topo = data.topo
        self.tstate: Dict[Tuple[int, int, int, int], int] = {
            tuple(int(v) for v in t): i + 1 for i, t in enumerate(data.tuples)}
        self.n = new_ctx.context_width
        self.p = new_ctx.central_position
        self._pdf_cache: Dict[Tuple[Tuple[int, ...], int], int] = {}

    def _pdf(self, window: Tuple[int, ...], pdf_class: int) -> int:
        key = (window, pdf_class)
        pdf = self._pdf_cache.get(key)
        if pdf is None:
            ok, pdf = self.ctx.compute(list(window), pdf_class)
            if not ok:
                raise ValueError(f"tree has no pdf for context {window}, pdf-class {pdf_class}")
            self._pdf_cache[key] = pdf
        return pdf

    def __call__(self, ali: np.ndarray) -> np.ndarray:
        ali = np.asarray(ali)
        phones, inst = phone_instances(self.old, ali)
        padded = [0] * self.p + phones.tolist() + [0] * (self.n - 1 - self.p)
        out = np.empty(len(ali), np.int32)
        old_state2id = self.old_tm.state2id
        old_id2state = self.old_tm.id2state
        for t, tid in enumerate(ali.tolist()):
            k = int(inst[t])
            window = tuple(padded[k:k + self.n])
            phone, hmm_state = int(self.old.phone[tid]), int(self.old.hmm_state[tid])
            st = self.topo.entries[self.topo.phone2idx[phone]][hmm_state]
            fwd = self._pdf(window, st.forward_pdf_class)
            slp = fwd if st.self_loop_pdf_class == st.forward_pdf_class else \
                self._pdf(window, st.self_loop_pdf_class)
            new_ts = self.tstate[(phone, hmm_state, fwd, slp)]
            index = tid - old_state2id[old_id2state[tid]]
            out[t] = self.new_tm.state2id[new_ts] + index
        return out


def convert_alignment(old_tm, new_tm, new_ctx, ali: np.ndarray) -> np.ndarray:
    """Convert one alignment (see :class:`AlignmentConverter` for many)."""
    return AlignmentConverter(old_tm, new_tm, new_ctx)(ali)
