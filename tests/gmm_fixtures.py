"""Small GMM-HMM objects for tests: a text topology, monophone tree, random model."""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

# phone 1 = silence (1 pdf-class), phones 2.. = 3-state left-to-right
def topo_text(num_phones: int = 4) -> str:
    """A Kaldi text topology: phone 1 a 1-state HMM, phones 2..num_phones 3-state."""
    nonsil = " ".join(str(p) for p in range(2, num_phones + 1))
    return f"""<Topology>
<TopologyEntry>
<ForPhones>
{nonsil}
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.75 <Transition> 2 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 2 0.75 <Transition> 3 0.25 </State>
<State> 3 </State>
</TopologyEntry>
<TopologyEntry>
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
