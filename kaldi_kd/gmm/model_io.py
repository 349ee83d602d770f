"""GMM model files (``final.mdl``) and decision trees (``tree``) in Kaldi's formats.

A Kaldi GMM model file is what ``gmm-init-mono`` / ``gmm-est`` write: the binary
header ``"\\0B"`` (binary mode only), a ``TransitionModel``, then an ``AmDiagGmm``:

    <TransitionModel> <Topology> ... </Topology> <Triples> N (phone hmm-state pdf)*N
    </Triples> <LogProbs> [vector] </LogProbs> </TransitionModel>
    <DIMENSION> D <NUMPDFS> P (<DiagGMM> <GCONSTS> v <WEIGHTS> v <MEANS_INVVARS> M
    <INV_VARS> M </DiagGMM>)*P

(``<Tuples>`` with 4 numbers per line and a ``-1`` marker in the binary topology
for non-HMM topologies with separate self-loop pdf-classes, as modern Kaldi.)
A tree file is Kaldi's ``ContextDependency`` (see :mod:`kaldi_kd.gmm.event_map`).

The wheel objects are converted as follows (checked against kaldi-hmm-gmm 1.1.4):
``str(TransitionModel)`` is Kaldi's exact text form; its pickle state holds the
derived tables, topology states and float log-probs; the pickle state of an
``AmDiagGmm`` is (weights, inv_vars, means_invvars) per pdf, gconsts recomputed on
load; the pickle state of a ``ContextDependency`` is Kaldi's binary tree.

Everything written here is readable by real Kaldi tools (gmm-info, tree-info,
gmm-align-compiled, ...), and files written by real Kaldi, binary or text, are read.
When the Kaldi backend is active a recipe may therefore mix Kaldi's own
``steps/train_mono.sh`` etc. with our stages: the exp-dir contract is the same
(final.mdl, tree, ali.N.gz, num_jobs).

Example:
    >>> tm, am = read_model("exp/mono/final.mdl")     # doctest: +SKIP
    >>> write_model("exp/mono/1.mdl", tm, am)          # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import InputError, MissingFileError
from kaldi_kd.gmm.event_map import Tree
from kaldi_kd.gmm.serial import BINARY_HEADER, KaldiFormatError, Reader, Writer, open_kaldi_bytes
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

PathLike = Union[str, os.PathLike]
NO_PDF = -1


@dataclass
class TopoState:
    """One HMM state: pdf-classes (-1 for the final state) and (dest, prob) arcs."""

    forward_pdf_class: int
    self_loop_pdf_class: int
    transitions: List[Tuple[int, float]]


@dataclass
class Topology:
    """Kaldi's HmmTopology content: sorted phones, phone → entry index, entries."""

    phones: List[int]
    phone2idx: List[int]
    entries: List[List[TopoState]]

    @property
    def is_hmm(self) -> bool:
        """True when every state has one pdf-class (classic HMM, ``<Triples>``)."""
        return all(s.forward_pdf_class == s.self_loop_pdf_class for e in self.entries for s in e)

    def to_text(self) -> str:
        """Kaldi's text topology (what ``HmmTopology.read`` accepts)."""
        lines = ["<Topology>"]
        for idx, entry in enumerate(self.entries):
            phones = [p for p in self.phones if self.phone2idx[p] == idx]
            lines += ["<TopologyEntry>", "<ForPhones>", " ".join(map(str, phones)), "</ForPhones>"]
            for j, s in enumerate(entry):
                parts = [f"<State> {j}"]
                if s.forward_pdf_class != NO_PDF:
                    if s.forward_pdf_class == s.self_loop_pdf_class:
                        parts.append(f"<PdfClass> {s.forward_pdf_class}")
                    else:
                        parts.append(f"<ForwardPdfClass> {s.forward_pdf_class} "
                                     f"<SelfLoopPdfClass> {s.self_loop_pdf_class}")
                parts += [f"<Transition> {d} {p!r}" for d, p in s.transitions]
                parts.append("</State>")
                lines.append(" ".join(parts))
            lines.append("</TopologyEntry>")
        lines.append("</Topology>")
        return "\n".join(lines) + "\n"

    def to_hmm_topology(self):
        """Build the wheel's ``HmmTopology``."""
        topo = kaldi_hmm_gmm.HmmTopology()
        topo.read(self.to_text())
        return topo


@dataclass
class TransitionModelData:
    """The serialised content of a TransitionModel: topology, tuples, log-probs.

    ``tuples`` is an (n, 4) int array of (phone, hmm_state, forward_pdf, self_loop_pdf);
    ``log_probs`` is float32 indexed by transition-id (element 0 unused).
    """

    topo: Topology
    tuples: np.ndarray
    log_probs: np.ndarray


# ---------------------------------------------------------------- topology

def _write_topology(w: Writer, topo: Topology) -> None:
    w.token("<Topology>")
    is_hmm = topo.is_hmm
    w.int_vector(topo.phones)
    w.int_vector(topo.phone2idx)
    if not is_hmm:
        w.int32(-1)
    w.int32(len(topo.entries))
    for entry in topo.entries:
        w.int32(len(entry))
        for s in entry:
            w.int32(s.forward_pdf_class)
            if not is_hmm:
                w.int32(s.self_loop_pdf_class)
            w.int32(len(s.transitions))
            for dst, prob in s.transitions:
                w.int32(dst)
                w.float32(prob)
    w.token("</Topology>")


def _read_topology_binary(r: Reader) -> Topology:
    phones = r.int_vector()
    phone2idx = r.int_vector()
    n = r.int32()
    is_hmm = n != -1
    if not is_hmm:
        n = r.int32()
    entries = []
    for _ in range(n):
        states = []
        for _ in range(r.int32()):
            fwd = r.int32()
            slp = fwd if is_hmm else r.int32()
            arcs = [(r.int32(), r.float32()) for _ in range(r.int32())]
            states.append(TopoState(fwd, slp, arcs))
        entries.append(states)
    r.expect("</Topology>")
    return Topology(phones, phone2idx, entries)


def _read_topology_text(r: Reader) -> Topology:
    entries: List[List[TopoState]] = []
    phone_entry = {}
    tok = r.token()
    while tok == "<TopologyEntry>":
        r.expect("<ForPhones>")
        tok = r.token()
        while tok != "</ForPhones>":
            phone_entry[int(tok)] = len(entries)
            tok = r.token()
        states: List[TopoState] = []
        tok = r.token()
        while tok == "<State>":
            if r.int32() != len(states):
                raise KaldiFormatError(f"{r.name}: topology states out of order")
            fwd = slp = NO_PDF
            arcs: List[Tuple[int, float]] = []
            tok = r.token()
            while tok != "</State>":
                if tok == "<PdfClass>":
                    fwd = slp = r.int32()
                elif tok == "<ForwardPdfClass>":
                    fwd = r.int32()
                elif tok == "<SelfLoopPdfClass>":
                    slp = r.int32()
                elif tok == "<Transition>":
                    arcs.append((r.int32(), r.float32()))
                else:
                    raise KaldiFormatError(f"{r.name}: unexpected {tok!r} in topology state")
                tok = r.token()
            states.append(TopoState(fwd, slp, arcs))
            tok = r.token()
        if tok != "</TopologyEntry>":
            raise KaldiFormatError(f"{r.name}: expected </TopologyEntry>, got {tok!r}")
        entries.append(states)
        tok = r.token()
    if tok != "</Topology>":
        raise KaldiFormatError(f"{r.name}: expected </Topology>, got {tok!r}")
    phones = sorted(phone_entry)
    phone2idx = [-1] * (1 + max(phones))
    for p, e in phone_entry.items():
        phone2idx[p] = e
    return Topology(phones, phone2idx, entries)


def _read_topology(r: Reader) -> Topology:
    r.expect("<Topology>")
    return _read_topology_binary(r) if r.binary else _read_topology_text(r)


def _topology_from_wheel(topo) -> Topology:
    phones, phone2idx, entries = topo.__getstate__()
    return Topology(
        list(phones), list(phone2idx),
        [[TopoState(s.forward_pdf_class, s.self_loop_pdf_class,
                    [(int(d), float(p)) for d, p in s.transitions]) for s in e] for e in entries])


# ---------------------------------------------------------------- transition model

def transition_model_data(trans_model) -> TransitionModelData:
    """Extract the serialisable content of a wheel ``TransitionModel``."""
    topo = _topology_from_wheel(trans_model.topo)
    text = str(trans_model)
    m = re.search(r"<(Triples|Tuples)>\s+(\d+)\s+(.*?)</(?:Triples|Tuples)>", text, re.S)
    if m is None:
        raise KaldiFormatError("TransitionModel text form has no <Triples>/<Tuples>")
    width = 3 if m.group(1) == "Triples" else 4
    nums = np.array(m.group(3).split(), dtype=np.int64).reshape(int(m.group(2)), width)
    if width == 3:
        nums = np.concatenate([nums, nums[:, 2:3]], axis=1)
    log_probs = np.asarray(trans_model.log_probs, dtype=np.float32)
    return TransitionModelData(topo, nums, log_probs)


def _write_transition_model(w: Writer, data: TransitionModelData) -> None:
    is_hmm = data.topo.is_hmm
    w.token("<TransitionModel>")
    w.newline()
    if w.binary:
        _write_topology(w, data.topo)
    else:
        _write_topology_text(w, data.topo)
    w.token("<Triples>" if is_hmm else "<Tuples>")
    w.int32(len(data.tuples))
    w.newline()
    for t in data.tuples:
        for v in (t[:3] if is_hmm else t):
            w.int32(int(v))
        w.newline()
    w.token("</Triples>" if is_hmm else "</Tuples>")
    w.newline()
    w.token("<LogProbs>")
    w.newline()
    w.vector(data.log_probs)
    w.token("</LogProbs>")
    w.newline()
    w.token("</TransitionModel>")
    w.newline()


def _write_topology_text(w: Writer, topo: Topology) -> None:
    """HmmTopology::Write in text mode (token and newline layout as Kaldi's)."""
    is_hmm = topo.is_hmm
    w.token("<Topology>")
    w.newline()
    for idx, entry in enumerate(topo.entries):
        w.token("<TopologyEntry>")
        w.newline()
        w.token("<ForPhones>")
        w.newline()
        w.raw("".join(f"{p} " for p, e in enumerate(topo.phone2idx) if e == idx).encode())
        w.newline()
        w.token("</ForPhones>")
        w.newline()
        for j, s in enumerate(entry):
            w.token("<State>")
            w.int32(j)
            if s.forward_pdf_class != NO_PDF:
                if is_hmm:
                    w.token("<PdfClass>")
                    w.int32(s.forward_pdf_class)
                else:
                    w.token("<ForwardPdfClass>")
                    w.int32(s.forward_pdf_class)
                    w.token("<SelfLoopPdfClass>")
                    w.int32(s.self_loop_pdf_class)
            for dst, prob in s.transitions:
                w.token("<Transition>")
                w.int32(dst)
                w.float32(prob)
            w.token("</State>")
            w.newline()
        w.token("</TopologyEntry>")
        w.newline()
    w.token("</Topology>")
    w.newline()


def _read_transition_model(r: Reader) -> TransitionModelData:
    r.expect("<TransitionModel>")
    topo = _read_topology(r)
    kind = r.token()
    if kind not in ("<Triples>", "<Tuples>"):
        raise KaldiFormatError(f"{r.name}: expected <Triples> or <Tuples>, got {kind!r}")
    n = r.int32()
    rows = []
    for _ in range(n):
        phone, hmm_state, fwd = r.int32(), r.int32(), r.int32()
        slp = r.int32() if kind == "<Tuples>" else fwd
        rows.append((phone, hmm_state, fwd, slp))
    r.expect(kind.replace("<", "</"))
    r.expect("<LogProbs>")
    log_probs = r.vector()
    r.expect("</LogProbs>")
    r.expect("</TransitionModel>")
    return TransitionModelData(topo, np.asarray(rows, dtype=np.int64).reshape(n, 4), log_probs)


def _tuple_class():
    """The wheel's TransitionModelTuple (only exported by its C extension module)."""
    import _kaldi_hmm_gmm  # noqa: PLC0415  (loaded by kaldi_kd.kaldi.wheels already)

    return _kaldi_hmm_gmm.TransitionModelTuple


def build_transition_model(data: TransitionModelData):
    """Build the wheel ``TransitionModel`` (Kaldi's ComputeDerived + ComputeDerivedOfProbs)."""
    topo = data.topo
    state2id = [0, 1]
    id2state = [0]
    id2pdf = [0]
    nsl = [0.0]
    for tstate, (phone, hmm_state, fwd, slp) in enumerate(data.tuples.tolist(), start=1):
        s = topo.entries[topo.phone2idx[phone]][hmm_state]
        first = state2id[-1]
        for idx, (dst, _) in enumerate(s.transitions):
            id2state.append(tstate)
            id2pdf.append(slp if dst == hmm_state else fwd)
        state2id.append(first + len(s.transitions))
        loops = [first + i for i, (d, _) in enumerate(s.transitions) if d == hmm_state]
        if loops:
            p = np.exp(np.float32(data.log_probs[loops[0]]))
            non_loop = np.float32(1.0 - float(p))
            nsl.append(float(np.log(non_loop if non_loop > 0 else np.float32(1e-10))))
        else:
            nsl.append(0.0)
    num_tids = len(id2state) - 1
    if len(data.log_probs) != num_tids + 1:
        raise KaldiFormatError(f"<LogProbs> has {len(data.log_probs)} entries, "
                               f"expected {num_tids + 1}")
    num_pdfs = int(data.tuples[:, 2:].max()) + 1 if len(data.tuples) else 0
    tuple_cls = _tuple_class()
    tuples = [tuple_cls(*map(int, t)) for t in data.tuples]
    # __setstate__ must run on an uninitialised object (on a constructed one the
    # topology is silently dropped).
    tm = kaldi_hmm_gmm.TransitionModel.__new__(kaldi_hmm_gmm.TransitionModel)
    tm.__setstate__((tuples, topo.to_hmm_topology(), state2id, id2state, id2pdf, num_pdfs,
                     [float(x) for x in data.log_probs], nsl))
    return tm


# ---------------------------------------------------------------- AmDiagGmm

def _write_am_gmm(w: Writer, am_gmm) -> None:
    w.token("<DIMENSION>")
    w.int32(am_gmm.dim)
    w.token("<NUMPDFS>")
    w.int32(am_gmm.num_pdfs)
    for i in range(am_gmm.num_pdfs):
        gmm = am_gmm.get_pdf(i)
        if not gmm.valid_gconsts:
            gmm.compute_gconsts()
        w.token("<DiagGMM>")
        w.newline()
        w.token("<GCONSTS>")
        w.vector(gmm.gconsts)
        w.token("<WEIGHTS>")
        w.vector(gmm.weights)
        w.token("<MEANS_INVVARS>")
        w.matrix(gmm.means_invvars)
        w.token("<INV_VARS>")
        w.matrix(gmm.inv_vars)
        w.token("</DiagGMM>")
        w.newline()


def _read_diag_gmm(r: Reader) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    tok = r.token()
    if tok not in ("<DiagGMM>", "<DiagGMMBegin>"):
        raise KaldiFormatError(f"{r.name}: expected <DiagGMM>, got {tok!r}")
    parts = {}
    tok = r.token()
    while tok not in ("</DiagGMM>", "<DiagGMMEnd>"):
        if tok in ("<GCONSTS>", "<WEIGHTS>"):
            parts[tok] = r.vector()
        elif tok in ("<MEANS_INVVARS>", "<INV_VARS>"):
            parts[tok] = r.matrix()
        else:
            raise KaldiFormatError(f"{r.name}: unexpected {tok!r} in <DiagGMM>")
        tok = r.token()
    for need in ("<WEIGHTS>", "<MEANS_INVVARS>", "<INV_VARS>"):
        if need not in parts:
            raise KaldiFormatError(f"{r.name}: <DiagGMM> without {need}")
    return parts["<WEIGHTS>"], parts["<INV_VARS>"], parts["<MEANS_INVVARS>"]


def _read_am_gmm(r: Reader):
    r.expect("<DIMENSION>")
    dim = r.int32()
    r.expect("<NUMPDFS>")
    num_pdfs = r.int32()
    state = []
    for pdf in range(num_pdfs):
        weights, inv_vars, means_invvars = _read_diag_gmm(r)
        if inv_vars.shape[1] != dim:
            raise KaldiFormatError(f"{r.name}: pdf {pdf} has dim {inv_vars.shape[1]}, "
                                   f"model says {dim}")
        state += [weights, inv_vars, means_invvars]
    if not num_pdfs:
        return kaldi_hmm_gmm.AmDiagGmm()
    am = kaldi_hmm_gmm.AmDiagGmm.__new__(kaldi_hmm_gmm.AmDiagGmm)
    am.__setstate__(tuple(state))
    return am


# ---------------------------------------------------------------- public API

def model_bytes(trans_model, am_gmm, binary: bool = True) -> bytes:
    """The bytes of a Kaldi model file holding ``trans_model`` then ``am_gmm``."""
    w = Writer(binary)
    _write_transition_model(w, transition_model_data(trans_model))
    _write_am_gmm(w, am_gmm)
    return (BINARY_HEADER if binary else b"") + w.getvalue()


def write_model(path: PathLike, trans_model, am_gmm, binary: bool = True) -> None:
    """Write ``final.mdl``-style model file (TransitionModel + AmDiagGmm), atomically.

    Args:
        path: output file.
        trans_model: ``kaldi_hmm_gmm.TransitionModel``.
        am_gmm: ``kaldi_hmm_gmm.AmDiagGmm`` with ``trans_model.num_pdfs`` pdfs.
        binary: Kaldi binary (default, as Kaldi's tools write) or text.
    """
    if am_gmm.num_pdfs != trans_model.num_pdfs:
        raise InputError(f"{path}: AmDiagGmm has {am_gmm.num_pdfs} pdfs, "
                         f"TransitionModel {trans_model.num_pdfs}")
    data = model_bytes(trans_model, am_gmm, binary)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _open_reader(path: PathLike) -> Reader:
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(p)
    payload, binary = open_kaldi_bytes(p.read_bytes())
    return Reader(payload, binary, str(p))


def read_model(path: PathLike):
    """Read a Kaldi GMM model file (ours or real Kaldi's, binary or text).

    Returns:
        (TransitionModel, AmDiagGmm) wheel objects.
    """
    r = _open_reader(path)
    tm = build_transition_model(_read_transition_model(r))
    am = _read_am_gmm(r)
    if am.num_pdfs != tm.num_pdfs:
        raise KaldiFormatError(f"{path}: {am.num_pdfs} GMMs for {tm.num_pdfs} pdfs")
    return tm, am


def read_transition_model(path: PathLike):
    """Read only the TransitionModel from a model file (``final.mdl`` or ``final.mdl``-like)."""
    return build_transition_model(_read_transition_model(_open_reader(path)))


def write_tree(path: PathLike, ctx_dep, binary: bool = True) -> None:
    """Write a tree file as Kaldi does (``\\0B`` + ContextDependency), atomically.

    Args:
        path: output file.
        ctx_dep: a wheel ``ContextDependency`` or a :class:`kaldi_kd.gmm.event_map.Tree`.
        binary: binary (default) or text.
    """
    tree = ctx_dep if isinstance(ctx_dep, Tree) else Tree.from_context_dependency(ctx_dep)
    with atomic_path(path) as tmp:
        tmp.write_bytes(tree.to_bytes(binary))


def read_tree_structure(path: PathLike) -> Tree:
    """Read a tree file into the Python :class:`Tree` (EventMap nodes)."""
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(p)
    return Tree.from_bytes(p.read_bytes(), name=str(p))


def read_tree(path: PathLike):
    """Read a Kaldi tree file (binary or text) into a wheel ``ContextDependency``."""
    return read_tree_structure(path).to_context_dependency()


def write_matrix(path: PathLike, matrix: np.ndarray, binary: bool = True) -> None:
    """Write a Kaldi float matrix file (e.g. ``final.mat``), atomically."""
    w = Writer(binary)
    w.matrix(np.asarray(matrix, np.float32))
    with atomic_path(path) as tmp:
        tmp.write_bytes((BINARY_HEADER if binary else b"") + w.getvalue())


def read_matrix(path: PathLike) -> np.ndarray:
    """Read a Kaldi matrix file (binary FM/DM or text), as written by est-lda/est-mllt."""
    return _open_reader(path).matrix()
