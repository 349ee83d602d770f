"""Decoding graph HCLG (Kaldi's ``utils/mkgraph.sh``) with the embedded wheels.

Kaldi's recipe, step by step, and what is done here:

1. ``LG = fstminimizeencoded(fstdeterminizestar --use-log=true (L_disambig o G))``;
   Kaldi then runs ``fstpushspecial``, which no wheel has: skipped (the graph is
   equivalent, weights are only distributed differently along paths).
2. ``CLG = fstcomposecontext --context-size=N --central-position=P`` (kaldifst's
   compose_context) with ``ilabels_N_P`` written in Kaldi's binary format.
3. ``Ha = make-h-transducer --transition-scale`` (kaldi_hmm_gmm.get_h_transducer),
   which also returns the transition-id disambiguation symbols (disambig_tid.int).
4. ``HCLGa = fstminimizeencoded(fstrmsymbols disambig_tid (fstdeterminizestar
   --use-log=true (Ha o CLG)))``; fstrmsymbols is done by relabelling arcs
   (:func:`kaldi_kd.gmm.fstutils.map_input_labels`, exact); Kaldi's ``fstrmepslocal`` is skipped.
5. ``HCLG = add-self-loops --self-loop-scale --reorder=true``.

The graph dir gets HCLG.fst (OpenFST binary vector FST), words.txt, phones.txt,
phones/{word_boundary,align_lexicon,optional_silence,disambig,silence}.*, num_pdfs,
disambig_tid.int, and tmp/{LG.fst,CLG_N_P.fst,ilabels_N_P} (Kaldi keeps these in
``<lang>/tmp``; here the lang dir is left read-only).

Example:
    >>> tm = read_transition_model("exp/tri1/final.mdl")          # doctest: +SKIP
    >>> make_graph_dir("data/lang_test", tm, read_tree("exp/tri1/tree"),
    ...                "exp/tri1/graph")                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.gmm.fstutils import map_input_labels, read_fst, write_const_fst
from kaldi_kd.gmm.symbols import LangError
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]


@dataclass
class GraphConfig:
    """mkgraph options (Kaldi's defaults)."""

    self_loop_scale: float = 0.1
    transition_scale: float = 1.0
    max_states: int = -1  # determinization limit (-1: none)


def num_arcs(fst) -> int:
    """Total number of arcs."""
    return sum(fst.num_arcs(s) for s in range(fst.num_states))


def _determinize(fst, what: str, max_states: int) -> None:
    """fstdeterminizestar --use-log=true in place; LangError if stopped by ``max_states``."""
    if kaldifst.determinize_star(fst, max_states=max_states, use_log=True):
        raise LangError(f"determinization of {what} stopped at --max-states {max_states}")


def make_lg(L_disambig, G, max_states: int = -1):
    """LG = minimize_encoded(det_log(L_disambig o G)) (no fstpushspecial)."""
    kaldifst.arcsort(L_disambig, sort_type="olabel")
    kaldifst.arcsort(G, sort_type="ilabel")
    LG = kaldifst.compose(L_disambig, G)
    if LG.num_states == 0:
        raise LangError("L_disambig o G is empty: do L and G share words.txt?")
    _determinize(LG, "L o G", max_states)
    kaldifst.minimize_encoded(LG)
    return LG


def make_clg(LG, disambig_phones: Sequence[int], context_width: int, central_position: int):
    """CLG = fstcomposecontext(LG), ilabel-sorted; returns (CLG, ilabels)."""
    CLG, ilabels = kaldifst.compose_context(list(disambig_phones), context_width, central_position, LG)
    kaldifst.arcsort(CLG, sort_type="ilabel")
    return CLG, ilabels


def write_ilabels(path: PathLike, ilabels: Sequence[Sequence[int]]) -> None:
    """Write ilabel info as fstcomposecontext does (Kaldi binary vector<vector<int32>>)."""
    out = [b"\0B", b"\x04", struct.pack("<i", len(ilabels))]
    for v in ilabels:
        out += [b"\x04", struct.pack("<i", len(v)), struct.pack(f"<{len(v)}i", *v)]
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"".join(out))


def read_ilabels(path: PathLike) -> List[List[int]]:
    """Read an ``ilabels_N_P`` file written by :func:`write_ilabels` or Kaldi (binary)."""
    data = Path(path).read_bytes()
    if data[:2] != b"\0B":
        raise LangError(f"{path}: expected Kaldi binary ilabels (\\0B header)")
    (n,), pos = struct.unpack_from("<i", data, 3), 7
    out = []
    for _ in range(n):
        (k,) = struct.unpack_from("<i", data, pos + 1)
        out.append(list(struct.unpack_from(f"<{k}i", data, pos + 5)))
        pos += 5 + 4 * k
    return out


def make_hclga(CLG, ilabels, ctx_dep, trans_model, transition_scale: float = 1.0,
               max_states: int = -1) -> Tuple[object, List[int]]:
    """HCLGa = min_enc(rmsymbols(det_log(Ha o CLG))); returns (HCLGa, disambig transition-ids)."""
    cfg = kaldi_hmm_gmm.HTransducerConfig(transition_scale=transition_scale)
    Ha, disambig_tid = kaldi_hmm_gmm.get_h_transducer(ilabels, ctx_dep, trans_model, cfg)
    Ha = kaldifst.StdVectorFst(Ha) if not isinstance(Ha, kaldifst.StdVectorFst) else Ha
    kaldifst.arcsort(Ha, sort_type="olabel")
    HCLGa = kaldifst.compose(Ha, CLG)
    if HCLGa.num_states == 0:
        raise LangError("H o CLG is empty: tree/model do not match the lang's phones?")
    _determinize(HCLGa, "H o CLG", max_states)
    labels = list(range(1, trans_model.num_transition_ids + 1)) + [int(t) for t in disambig_tid]
    HCLGa = map_input_labels(HCLGa, labels, {int(t): 0 for t in disambig_tid})
    kaldifst.minimize_encoded(HCLGa)
    return HCLGa, list(disambig_tid)


def add_self_loops(HCLGa, trans_model, self_loop_scale: float = 0.1):
    """HCLG = add-self-loops --self-loop-scale --reorder=true."""
    return kaldi_hmm_gmm.add_self_loops(self_loop_scale=self_loop_scale, disambig_syms=[],
                                        reorder=True, trans_model=trans_model, ifst=HCLGa)


def _copy_lang_files(lang: Path, graph: Path) -> None:
    """The lang files mkgraph.sh copies next to HCLG.fst."""
    (graph / "phones").mkdir(parents=True, exist_ok=True)
    for name in ("words.txt", "phones.txt"):
        shutil.copy2(lang / name, graph / name)
    for pattern in ("word_boundary.*", "align_lexicon.*", "optional_silence.*", "disambig.txt",
                    "disambig.int", "silence.csl", "nonsilence.csl"):
        for f in (lang / "phones").glob(pattern):
            shutil.copy2(f, graph / "phones" / f.name)


def make_graph_dir(lang_test: PathLike, trans_model, ctx_dep, graph_dir: PathLike,
                   config: GraphConfig = GraphConfig()) -> Dict[str, float]:
    """Build HCLG.fst for ``lang_test`` (with G.fst) and a model/tree into ``graph_dir``.

    Args:
        lang_test: lang dir with G.fst (from make_G).
        trans_model: kaldi_hmm_gmm.TransitionModel of the model (final.mdl).
        ctx_dep: kaldi_hmm_gmm.ContextDependency (the tree).
        graph_dir: output dir.
        config: scales and limits.

    Returns:
        sizes and timings: {LG,CLG,HCLGa,HCLG}_{states,arcs}, seconds per step.
    """
    from kaldi_kd.gmm.lang import Lang

    lang = Lang(lang_test)
    if not (lang.dir / "G.fst").is_file():
        raise LangError(f"expected file {lang.dir / 'G.fst'} to exist (run make_G.py)")
    model_phones = set(trans_model.phones)
    if model_phones != set(lang.silence + lang.nonsilence):
        raise LangError(f"{lang.dir / 'phones.txt'}: phones do not match the model's "
                        f"({len(model_phones)} in the model, {lang.num_phones} in the lang)")
    N, P = ctx_dep.context_width, ctx_dep.central_position
    graph = Path(graph_dir)
    (graph / "tmp").mkdir(parents=True, exist_ok=True)
    stats: Dict[str, float] = {}
    t0 = time.time()
    LG = make_lg(lang.lexicon_fst(disambig=True), read_fst(lang.dir / "G.fst"), config.max_states)
    stats.update(LG_states=LG.num_states, LG_arcs=num_arcs(LG), LG_seconds=time.time() - t0)
    t0 = time.time()
    CLG, ilabels = make_clg(LG, lang.disambig, N, P)
    stats.update(CLG_states=CLG.num_states, CLG_arcs=num_arcs(CLG), CLG_seconds=time.time() - t0)
    t0 = time.time()
    HCLGa, disambig_tid = make_hclga(CLG, ilabels, ctx_dep, trans_model, config.transition_scale,
                                     config.max_states)
    stats.update(HCLGa_states=HCLGa.num_states, HCLGa_arcs=num_arcs(HCLGa),
                 HCLGa_seconds=time.time() - t0)
    t0 = time.time()
    HCLG = add_self_loops(HCLGa, trans_model, config.self_loop_scale)
    stats.update(HCLG_states=HCLG.num_states, HCLG_arcs=num_arcs(HCLG),
                 self_loops_seconds=time.time() - t0)
    LG.write(str(graph / "tmp" / "LG.fst"))
    CLG.write(str(graph / "tmp" / f"CLG_{N}_{P}.fst"))
    write_ilabels(graph / "tmp" / f"ilabels_{N}_{P}", ilabels)
    write_text_atomic(graph / "disambig_tid.int", "".join(f"{t}\n" for t in disambig_tid))
    with atomic_path(graph / "HCLG.fst") as tmp:
        write_const_fst(HCLG, tmp)  # a ConstFst, as Kaldi's mkgraph.sh writes it
    _copy_lang_files(lang.dir, graph)
    write_text_atomic(graph / "num_pdfs", f"{trans_model.num_pdfs}\n")
    write_text_atomic(graph / "mkgraph.yaml", "".join(f"{k}: {v}\n" for k, v in asdict(config).items()))
    logger.info("graph %s: %s", graph, " ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items()))
    return stats


def load_model_dir(model_dir: PathLike):
    """Read ``final.mdl``'s TransitionModel and ``tree`` of a GMM exp dir.

    Returns:
        (TransitionModel, ContextDependency).
    """
    from kaldi_kd.gmm.model_io import read_transition_model, read_tree

    d = Path(model_dir)
    for f in ("final.mdl", "tree"):
        if not (d / f).is_file():
            raise LangError(f"expected file {d / f} to exist")
    return read_transition_model(d / "final.mdl"), read_tree(d / "tree")
