"""Small GMM-HMM objects for tests: text topologies, monophone tree, random or unit-Gaussian models."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

def topo_entry(phones: Iterable[int], loop: float = 0.5) -> str:
    """A ``<TopologyEntry>`` giving ``phones`` a 3-state left-to-right HMM (self-loop ``loop``)."""
    ids = " ".join(str(p) for p in phones)
    states = "".join(f"<State> {i} <PdfClass> {i} <Transition> {i} {loop} <Transition> {i + 1} {1 - loop} </State>\n"
                     for i in range(3))
    return f"<TopologyEntry>\n<ForPhones>\n{ids}\n</ForPhones>\n{states}<State> 3 </State>\n</TopologyEntry>\n"


# phone 1 = silence (1 pdf-class), phones 2.. = 3-state left-to-right
def topo_text(num_phones: int = 4) -> str:
    """A Kaldi text topology: phone 1 a 1-state HMM, phones 2..num_phones 3-state."""
    return f"""<Topology>
{topo_entry(range(2, num_phones + 1), 0.75)}<TopologyEntry>
<ForPhones>
1
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.5 <Transition> 1 0.5 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
"""


def make_topo(num_phones: int = 4):
    topo = kaldi_hmm_gmm.HmmTopology()
    topo.read(topo_text(num_phones))
    return topo


def make_mono(num_phones: int = 4, dim: int = 5, num_gauss: int = 2, seed: int = 0):
    """(topo, ctx_dep, trans_model, am_gmm) with random GMM parameters."""
    rng = np.random.default_rng(seed)
    topo = make_topo(num_phones)
    phones = list(range(1, num_phones + 1))
    ctx = kaldi_hmm_gmm.monophone_context_dependency(phones, topo.get_phone_to_num_pdf_classes())
    tm = kaldi_hmm_gmm.TransitionModel(ctx, topo)
    am = kaldi_hmm_gmm.AmDiagGmm()
    for _ in range(tm.num_pdfs):
        g = kaldi_hmm_gmm.DiagGmm(num_gauss, dim)
        w = rng.uniform(0.2, 1.0, num_gauss).astype(np.float32)
        g.set_weights(w / w.sum())
        g.set_invvars(rng.uniform(0.5, 2.0, (num_gauss, dim)).astype(np.float32))
        g.set_means(rng.normal(size=(num_gauss, dim)).astype(np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return topo, ctx, tm, am


def unit_gaussian_am(num_pdfs: int, dim: int):
    """An AmDiagGmm of ``num_pdfs`` single Gaussians N(0, I) in ``dim`` dimensions."""
    am = kaldi_hmm_gmm.AmDiagGmm()
    for _ in range(num_pdfs):
        g = kaldi_hmm_gmm.DiagGmm(1, dim)
        g.set_weights(np.ones(1, np.float32))
        g.set_invvars(np.ones((1, dim), np.float32))
        g.set_means(np.zeros((1, dim), np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return am
