"""Tiny monophone systems for tests and benchmarks: topology, TransitionModel, HCLG,
and synthetic log-likelihoods for a known word sequence.

The graph is built the mkgraph way with the wheels (L with a word loop and a
uniform unigram G folded in → ``compose_context`` (monophone) → H from
``get_h_transducer`` → compose → ``add_self_loops``), but without disambiguation
symbols, so lexicons must not have homophones.  Real graphs come from
``steps_py/mkgraph.py`` (lang area).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst

TOPO_3STATE = """<Topology>
<TopologyEntry>
<ForPhones>
{phones}
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.5 <Transition> 1 0.5 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.5 <Transition> 2 0.5 </State>
<State> 2 <PdfClass> 2 <Transition> 2 0.5 <Transition> 3 0.5 </State>
<State> 3 </State>
</TopologyEntry>
</Topology>
"""


@dataclass
class ToySystem:
    """A monophone system: lexicon word id -> phone ids, its models and HCLG."""

    lexicon: Dict[int, List[int]]
    words: List[str]  # id -> word ("<eps>" at 0)
    topo: object
    ctx_dep: object
    trans_model: object
    hclg: object

    def pdf(self, phone: int, pdf_class: int) -> int:
        ok, pdf = self.ctx_dep.compute([phone], pdf_class)
        assert ok
        return pdf


def build_toy_system(lexicon: Dict[str, Sequence[int]], num_phones: int) -> ToySystem:
    """Build a toy system for ``lexicon`` (word -> phone ids 1..num_phones).

    Word ids are 1.. in the lexicon's order; G is a uniform word loop.
    """
    phones = list(range(1, num_phones + 1))
    topo = kaldi_hmm_gmm.HmmTopology()
    topo.read(TOPO_3STATE.format(phones=" ".join(map(str, phones))))
    ctx = kaldi_hmm_gmm.monophone_context_dependency(phones, [3] * (num_phones + 1))
    tm = kaldi_hmm_gmm.TransitionModel(ctx, topo)
    words = ["<eps>"] + list(lexicon)
    lex = {i + 1: list(p) for i, p in enumerate(lexicon.values())}
    L = kaldifst.StdVectorFst()
    s0 = L.add_state()
    L.start = s0
    L.set_final(s0, 0.0)
    gcost = math.log(len(lex))
    for w, ph in lex.items():
        prev = s0
        for i, p in enumerate(ph):
            nxt = s0 if i == len(ph) - 1 else L.add_state()
            L.add_arc(prev, kaldifst.StdArc(p, w if i == 0 else 0, gcost if i == 0 else 0.0, nxt))
            prev = nxt
    clg, ilabels = kaldifst.compose_context([], 1, 0, L)
    h, _ = kaldi_hmm_gmm.get_h_transducer(ilabels, ctx, tm, kaldi_hmm_gmm.HTransducerConfig())
    kaldifst.arcsort(clg, sort_type="ilabel")
    hclga = kaldifst.compose(h, clg)
    hclg = kaldi_hmm_gmm.add_self_loops(trans_model=tm, ifst=hclga, self_loop_scale=1.0,
                                        disambig_syms=[], reorder=True)
    return ToySystem(lex, words, topo, ctx, tm, hclg)


def synthetic_loglikes(system: ToySystem, word_ids: Sequence[int], rng: np.random.Generator,
                       min_dur: int = 2, max_dur: int = 5, sep: float = 4.0,
                       noise: float = 1.0) -> Tuple[np.ndarray, List[int]]:
    """(T, num_pdfs) log-likelihoods favouring the pdfs of ``word_ids``' states.

    Each HMM state lasts ``min_dur..max_dur`` frames; the true pdf scores ``sep``
    above the others on average, with Gaussian ``noise``.

    Returns:
        (loglikes float32, the true pdf per frame).
    """
    pdfs: List[int] = []
    for w in word_ids:
        for p in system.lexicon[w]:
            for c in range(3):
                pdfs += [system.pdf(p, c)] * int(rng.integers(min_dur, max_dur + 1))
    T, P = len(pdfs), int(system.trans_model.num_pdfs)
    ll = rng.normal(-sep - 1.0, noise, size=(T, P))
    ll[np.arange(T), pdfs] = rng.normal(-1.0, noise * 0.5, size=T)
    return ll.astype(np.float32), pdfs


DIGITS_LEXICON = {  # toy "digits": 10 words over 12 phones, no homophones
    "zero": [1, 2, 3], "one": [4, 5, 6], "two": [7, 8], "three": [9, 10, 11],
    "four": [12, 2], "five": [12, 5, 9], "six": [3, 1, 7], "seven": [3, 11, 6],
    "eight": [5, 7], "nine": [6, 10, 4],
}


@dataclass
class ToyLangGraph:
    """A lang dir, an n-gram lang_test and a monophone HCLG built the real way."""

    lang: "object"           # kaldi_kd.gmm.lang.Lang of lang_test
    topo: object             # HmmTopology
    ctx_dep: object          # monophone ContextDependency
    trans_model: object      # TransitionModel
    lm_stats: Dict[str, int]
    graph_stats: Dict[str, float]
    graph_dir: "object"      # Path of graph/ (HCLG.fst, words.txt, ...)


def build_lang_graph(root, pronunciations: Dict[str, Sequence[str]], lm_lines: Sequence[str],
                     order: int = 3) -> ToyLangGraph:
    """Under ``root``: dict/, lang/ (prepare_lang), lang_test/ (an ``order``-gram G trained on
    ``lm_lines``) and graph/ (mkgraph with a monophone tree and an untrained model).

    Args:
        root: an existing, empty directory.
        pronunciations: word -> ARPAbet pronunciations, e.g. ``{"two": ["T UW"]}``.
        lm_lines: sentences of the LM text.
    """
    from pathlib import Path

    from kaldi_kd.gmm.graph import make_graph_dir
    from kaldi_kd.gmm.lang import Lang, prepare_lang
    from kaldi_kd.gmm.lexicon import make_lexicon, write_dict_dir
    from kaldi_kd.gmm.ngram import NgramConfig, make_lang_test

    root = Path(root)
    cmu = {w: [tuple(p.split()) for p in prons] for w, prons in pronunciations.items()}
    entries, _ = make_lexicon(list(pronunciations), cmu=cmu)
    write_dict_dir(entries, root / "dict")
    prepare_lang(root / "dict", "<UNK>", root / "lang")
    text = root / "lm.txt"
    text.write_text("".join(line + "\n" for line in lm_lines))
    lm_stats = make_lang_test([text], root / "lang", root / "lang_test", NgramConfig(order=order))
    lang = Lang(root / "lang_test")
    topo = lang.topology()
    ctx = kaldi_hmm_gmm.monophone_context_dependency(sorted(topo.phones),
                                                     topo.get_phone_to_num_pdf_classes())
    tm = kaldi_hmm_gmm.TransitionModel(ctx, topo)
    graph_stats = make_graph_dir(root / "lang_test", tm, ctx, root / "graph")
    return ToyLangGraph(lang, topo, ctx, tm, lm_stats, graph_stats, root / "graph")
