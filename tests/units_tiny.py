"""A tiny Kaldi world for the unit/teacher tests: lang dir, topology, a context-dependent
tree (full left context on state 0, right context on state 2, like a tiny triphone tree),
a TransitionModel, L.fst with optional silence, and forced alignments through Kaldi's
training-graph compiler with random scores."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import List, Sequence

import numpy as np

from kaldi_kd.gmm.prepare_lang import prepare_lang
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst  # noqa: F401
from gmm_fixtures import topo_entry

SIL_PHONES = ["SIL", "SPN"]
NONSIL = ["AH", "IY", "N", "R", "T", "TH", "UW", "W", "F", "AO"]
LEXICON = {
    "<unk>": ["SPN"],
    "one": ["W", "AH", "N"],
    "two": ["T", "UW"],
    "three": ["TH", "R", "IY"],
    "four": ["F", "AO", "R"],
    "a": ["AH"],
}
WORDS = ["<eps>", "<unk>", "a", "four", "one", "three", "two", "#0", "<s>", "</s>"]


def phone_list() -> List[str]:
    out = ["<eps>"]
    for p in SIL_PHONES:
        out += [p] + [f"{p}_{s}" for s in "BEIS"]
    for p in NONSIL:
        out += [f"{p}_{s}" for s in "BEIS"]
    return out + ["#0", "#1"]


def pos_pron(pron: Sequence[str]) -> List[str]:
    if len(pron) == 1:
        return [pron[0] + "_S"]
    return [pron[0] + "_B"] + [p + "_I" for p in pron[1:-1]] + [pron[-1] + "_E"]


def write_lang(d: Path) -> Path:
    """Write a position-dependent Kaldi lang dir for LEXICON with kaldi_kd's prepare_lang.

    Its phones.txt / words.txt ids are those of :func:`phone_list` / WORDS (what the
    topology, tree and L.fst below use).
    """
    dict_dir = d.with_name(d.name + "_dict")
    dict_dir.mkdir(parents=True, exist_ok=True)
    (dict_dir / "lexicon.txt").write_text("".join(f"{w} {' '.join(p)}\n" for w, p in LEXICON.items()))
    (dict_dir / "silence_phones.txt").write_text("".join(f"{p}\n" for p in SIL_PHONES))
    (dict_dir / "nonsilence_phones.txt").write_text("".join(f"{p}\n" for p in NONSIL))
    (dict_dir / "optional_silence.txt").write_text("SIL\n")
    (dict_dir / "extra_questions.txt").write_text("")
    prepare_lang(dict_dir, "<unk>", d)
    return d


def real_phone_ids() -> List[int]:
    return [i for i, p in enumerate(phone_list()) if i and not p.startswith("#")]


SIL_TOPO = """<TopologyEntry>
<ForPhones>
{ids}
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.25 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 <Transition> 4 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 <Transition> 4 0.25 </State>
<State> 3 <PdfClass> 3 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 <Transition> 4 0.25 </State>
<State> 4 <PdfClass> 4 <Transition> 4 0.75 <Transition> 5 0.25 </State>
<State> 5 </State>
</TopologyEntry>
"""


def make_topo(kaldi_silence: bool = False):
    """3-state left-to-right for every phone, or Kaldi's 5-state silence topology for SIL/SPN."""
    sil = [i for i, p in enumerate(phone_list()) if p.split("_")[0] in SIL_PHONES]
    ids = [p for p in real_phone_ids() if not (kaldi_silence and p in sil)]
    extra = SIL_TOPO.format(ids=" ".join(map(str, sil))) if kaldi_silence else ""
    txt = f"<Topology>\n{extra}{topo_entry(ids, 0.5)}</Topology>\n"
    topo = kaldi_hmm_gmm.HmmTopology()
    topo.read(txt)
    return topo


def _tok(s: str) -> bytes:
    return s.encode() + b" "


def _i32(x: int) -> bytes:
    return b"\x04" + struct.pack("<i", x)


def _u32(x: int) -> bytes:
    return b"\xfc" + struct.pack("<I", x)


def _te(key: int, children: List[bytes]) -> bytes:
    return _tok("TE") + _i32(key) + _u32(len(children)) + _tok("(") + b"".join(children) + _tok(")")


def _ce(pdf: int) -> bytes:
    return _tok("CE") + _i32(pdf)


def context_tree():
    """A 3-phone ContextDependency (N=3, P=1): state 0 split on the left phone, state 2
    on the right phone, state 1 context-independent; written in Kaldi's binary tree format."""
    phones = real_phone_ids()
    max_id = len(phone_list())  # children indexed by phone id 0..max_id-1 (covers disambig too)
    counter = [0]

    def leaf() -> bytes:
        counter[0] += 1
        return _ce(counter[0] - 1)

    by_phone = []
    for p in range(max_id):
        if p not in phones:
            by_phone.append(_tok("NULL"))
            continue
        s0 = _te(0, [leaf() for _ in range(max_id)])
        s1 = leaf()
        s2 = _te(2, [leaf() for _ in range(max_id)])
        by_phone.append(_te(-1, [s0, s1, s2]))
    data = _tok("ContextDependency") + _i32(3) + _i32(1) + _tok("ToPdf") + _te(1, by_phone) + _tok("EndContextDependency")
    ctx = kaldi_hmm_gmm.ContextDependency.__new__(kaldi_hmm_gmm.ContextDependency)
    ctx.__setstate__(([b if b < 128 else b - 256 for b in data],))
    return ctx


def make_model(triphone: bool = True, kaldi_silence: bool = False):
    topo = make_topo(kaldi_silence)
    if triphone:
        ctx = context_tree()
    else:
        ctx = kaldi_hmm_gmm.monophone_context_dependency(real_phone_ids(), topo.get_phone_to_num_pdf_classes())
    return kaldi_hmm_gmm.TransitionModel(ctx, topo), ctx


def lexicon_fst(sil_prob: float = 0.5):
    """L with optional silence after each word and at the start (Kaldi make_lexicon_fst style)."""
    pid = {p: i for i, p in enumerate(phone_list())}
    wid = {w: i for i, w in enumerate(WORDS)}
    sil, nosil = -math.log(sil_prob), -math.log(1 - sil_prob)
    # states: 0 start, 1 loop (after a word, no silence), 2 silence state (SIL then loop)
    arcs = [f"0 1 0 0 {nosil}", f"0 2 0 0 {sil}", f"2 1 {pid['SIL']} 0"]
    next_state = 3
    for w, pron in LEXICON.items():
        ph = [pid[p] for p in pos_pron(pron)]
        cur = 1
        for j, p in enumerate(ph[:-1]):
            arcs.append(f"{cur} {next_state} {p} {wid[w] if j == 0 else 0}")
            cur, next_state = next_state, next_state + 1
        olabel = wid[w] if len(ph) == 1 else 0
        arcs.append(f"{cur} 1 {ph[-1]} {olabel} {nosil}")
        arcs.append(f"{cur} 2 {ph[-1]} {olabel} {sil}")
    arcs.append("1 0")
    fst = kaldifst.compile("\n".join(arcs) + "\n")
    return fst


def forced_alignment(tm, ctx, words: Sequence[str], num_frames: int, seed: int) -> np.ndarray:
    """Align ``words`` to ``num_frames`` frames of random per-transition-id scores."""
    wid = {w: i for i, w in enumerate(WORDS)}
    lex = lexicon_fst()
    opts = kaldi_hmm_gmm.TrainingGraphCompilerOptions()
    gc = kaldi_hmm_gmm.TrainingGraphCompiler(tm, ctx, lex, [], opts)
    graph = gc.compile_graph_from_text([wid[w] for w in words])
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 3, (num_frames, tm.num_transition_ids)).astype(np.float32)
    dec = kaldi_hmm_gmm.DecodableCtc(scores)
    res = kaldi_hmm_gmm.align_utterance_wrapper(kaldi_hmm_gmm.AlignConfig(beam=1000.0), "u", 1.0, graph, dec,
                                                0, 0, 0, 0.0, 0)
    ali = np.asarray(res[5], dtype=np.int32)
    if ali.size != num_frames:
        raise RuntimeError(f"alignment failed: {res[:5]}")
    return ali
