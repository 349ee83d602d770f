"""Consistency check of an existing Kaldi experiment before our AM stage starts ("bring your own").

A user brings, from a real Kaldi run (or ours)::

    data/<train>/            feats.scp (+ cmvn.scp, utt2num_frames), text, utt2spk
    exp/<gmm>_ali/           final.mdl, tree, ali.*.gz (transition-ids), num_jobs [, final.mat]
    data/lang/               phones.txt, words.txt, ...
    exp/<gmm>/graph_<lm>/    HCLG.fst, words.txt, phones.txt [, num_pdfs]

:func:`check_kaldi_exp` reads them and raises one :class:`KaldiExpError` listing every
mismatch found, each naming its files:

- tree vs model: number of pdfs of the tree, of the transition model and of the GMMs;
  the graph's tree (``<graph>/../tree``) vs the alignment dir's: context width N,
  central position P, number of pdfs; ``<graph>/num_pdfs``; transition-ids on HCLG's
  arcs beyond the model's (graphs up to ``max_graph_mb``);
- model phones (topology) not in ``lang/phones.txt``; ``phones.txt`` of lang vs graph
  vs ``<ali-dir>/phones.txt`` (Kaldi's check_phones_compatible.sh); ``words.txt`` of lang
  vs graph;
- alignments of utterances not in the data dir (some listed), transition-ids out of range,
  alignment lengths vs feature frame counts (some listed);
- feature dimension vs the GMM (``D * (delta_order + 1)``, or ``final.mat``'s input when
  there is one) and vs ``expected_feat_dim`` (what an AM config expects).

Example:
    >>> check_kaldi_exp("data/train_960", "exp/tri6b_ali", "data/lang", "exp/tri6b/graph_tgsmall")  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.event_map import Tree
from kaldi_kd.errors import KaldiKdError

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
MAX_LISTED = 5


class KaldiExpError(KaldiKdError, ValueError):
    """The experiment's files do not fit together; the message lists each mismatch."""


@dataclass
class ExpCheckReport:
    """What was checked (all consistent when returned)."""

    num_pdfs: int = 0
    num_transition_ids: int = 0
    context_width: int = 0
    central_position: int = 0
    model_dim: int = 0
    feat_dim: int = 0
    num_data_utts: int = 0
    num_aligned_utts: int = 0
    warnings: List[str] = field(default_factory=list)


def _listed(items: List[str]) -> str:
    more = f" (and {len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    return " ".join(items[:MAX_LISTED]) + more


def _required(data_dir: Path, ali_dir: Path, lang_dir: Path, graph_dir: Path) -> List[str]:
    need = [data_dir / "feats.scp", ali_dir / "final.mdl", ali_dir / "tree", lang_dir / "phones.txt",
            lang_dir / "words.txt", graph_dir / "HCLG.fst"]
    out = [f"expected file {p} to exist" for p in need if not p.is_file()]
    if not glob.glob(str(ali_dir / "ali.*.gz")):
        out.append(f"expected alignments {ali_dir}/ali.*.gz to exist")
    return out


def _first_difference(a: Path, b: Path) -> Optional[str]:
    """None when the two text files are equal, else where they first differ."""
    la, lb = a.read_text().splitlines(), b.read_text().splitlines()
    for n, (x, y) in enumerate(zip(la, lb), 1):
        if x.split() != y.split():
            return f"line {n}: {x!r} vs {y!r}"
    if len(la) != len(lb):
        return f"{len(la)} vs {len(lb)} lines"
    return None


def _symbol_problems(lang_dir: Path, ali_dir: Path, graph_dir: Path) -> List[str]:
    out = []
    for name, other in (("phones.txt", graph_dir), ("words.txt", graph_dir), ("phones.txt", ali_dir)):
        if (other / name).is_file():
            diff = _first_difference(lang_dir / name, other / name)
            if diff:
                out.append(f"{lang_dir / name} and {other / name} differ ({diff}): the graph or model "
                           f"was built with another lang dir")
    return out


def _phone_ids(phones_txt: Path) -> Dict[int, str]:
    out = {}
    for line in phones_txt.read_text().splitlines():
        f = line.split()
        if len(f) == 2:
            out[int(f[1])] = f[0]
    return out


def _model_problems(ali_dir: Path, lang_dir: Path, graph_dir: Path, rep: ExpCheckReport) -> List[str]:
    out = []
    tm, am = model_io.read_model(ali_dir / "final.mdl")
    tree = model_io.read_tree_structure(ali_dir / "tree")
    rep.num_pdfs, rep.num_transition_ids = tm.num_pdfs, tm.num_transition_ids
    rep.context_width, rep.central_position, rep.model_dim = tree.context_width, tree.central_position, am.dim
    if not tree.num_pdfs() == tm.num_pdfs == am.num_pdfs:
        out.append(f"tree/model mismatch: {ali_dir / 'tree'} has {tree.num_pdfs()} pdfs, "
                   f"{ali_dir / 'final.mdl'} has {tm.num_pdfs} (transition model) and {am.num_pdfs} (GMMs)")
    lang_phones = _phone_ids(lang_dir / "phones.txt")
    unknown = sorted(p for p in tm.phones if p not in lang_phones) if hasattr(tm, "phones") else []
    if unknown:
        out.append(f"{ali_dir / 'final.mdl'}: phone ids {_listed([str(p) for p in unknown])} of its topology "
                   f"are not in {lang_dir / 'phones.txt'}")
    out += _graph_tree_problems(tree, tm.num_pdfs, ali_dir, graph_dir)
    return out


def _graph_tree_problems(tree: Optional[Tree], num_pdfs: int, ali_dir: Path, graph_dir: Path) -> List[str]:
    out = []
    gtree_path = graph_dir.parent / "tree"
    if tree is not None and gtree_path.is_file() and gtree_path.resolve() != (ali_dir / "tree").resolve():
        g = model_io.read_tree_structure(gtree_path)
        if (g.context_width, g.central_position) != (tree.context_width, tree.central_position):
            out.append(f"context mismatch: {gtree_path} has context width {g.context_width}, central position "
                       f"{g.central_position}; {ali_dir / 'tree'} has {tree.context_width}, {tree.central_position}")
        if g.num_pdfs() != tree.num_pdfs():
            out.append(f"tree mismatch: the graph's {gtree_path} has {g.num_pdfs()} pdfs, "
                       f"{ali_dir / 'tree'} has {tree.num_pdfs()}: the graph was built for another model")
    if (graph_dir / "num_pdfs").is_file():
        n = int((graph_dir / "num_pdfs").read_text().split()[0])
        if n != num_pdfs:
            out.append(f"{graph_dir / 'num_pdfs'} says {n} pdfs, {ali_dir / 'final.mdl'} has {num_pdfs}")
    return out


def max_graph_ilabel(hclg: Path) -> Optional[int]:
    """Largest input label (transition-id) of ``hclg``, streamed through Debian's ``fstprint``;
    None when fstprint is not on PATH."""
    import shutil
    import subprocess

    if not shutil.which("fstprint"):
        return None
    proc = subprocess.Popen(["fstprint", str(hclg)], stdout=subprocess.PIPE, text=True)
    top = 0
    for line in proc.stdout:
        f = line.split()
        if len(f) >= 4:
            top = max(top, int(f[2]))
    if proc.wait() != 0:
        raise KaldiExpError(f"fstprint could not read {hclg}")
    return top


def _graph_label_problems(graph_dir: Path, ali_dir: Path, num_tids: int, max_mb: float) -> List[str]:
    hclg = graph_dir / "HCLG.fst"
    if hclg.stat().st_size > max_mb * 2 ** 20:
        logger.info("%s is over %.0f MB: its transition-ids are not checked", hclg, max_mb)
        return []
    top = max_graph_ilabel(hclg)
    if top is not None and top > num_tids:
        return [f"{hclg} has transition-id {top} > {num_tids} of {ali_dir / 'final.mdl'}: "
                f"the graph was built for another model"]
    return []


def graph_model_problems(graph_dir: PathLike, model: PathLike, max_graph_mb: float = 32.0) -> List[str]:
    """Does the decoding graph ``graph_dir`` belong to the transition model ``model``?

    Compares ``<graph>/num_pdfs`` and the graph's tree (``<graph>/../tree``) with the
    model (and the ``tree`` beside it), and HCLG's largest transition-id with the model's
    (graphs up to ``max_graph_mb``).  Returns one problem per mismatch, naming the files.
    """
    graph_dir, model = Path(graph_dir), Path(model)
    tm = model_io.read_transition_model(model)
    tree_path = model.parent / "tree"
    tree = model_io.read_tree_structure(tree_path) if tree_path.is_file() else None
    out = _graph_tree_problems(tree, tm.num_pdfs, model.parent, graph_dir)
    if not out:
        out += _graph_label_problems(graph_dir, model.parent, tm.num_transition_ids, max_graph_mb)
    return [f"{p} (decode with the graph made from this model's tree: steps_py/mkgraph.py <lang> "
            f"<dir with {model.name} and tree> <graph>)" for p in out]


def loglike_problems(loglike_dir: PathLike, num_pdfs: int, model: PathLike) -> List[str]:
    """The first log-likelihood matrix of ``loglike_dir`` (``loglikes.1.scp`` or
    ``loglikes.scp``) must have one column per pdf of ``model``."""
    from kaldi_kd.data.tables import read_table

    d = Path(loglike_dir)
    table = next((f"{kind}:{p}" for kind, p in (("scp", d / "loglikes.1.scp"), ("scp", d / "loglikes.scp"),
                                                ("ark", d / "loglikes.1.ark")) if p.is_file()), None)
    if table is None:
        return []
    for utt, m in read_table(table):
        if m.ndim != 2 or m.shape[1] != num_pdfs:
            return [f"{table.split(':', 1)[1]}: utterance '{utt}' has {m.shape[-1]} columns, but {model} has "
                    f"{num_pdfs} pdfs (the AM was trained on another tree's alignments; decode with its own "
                    "graph and model)"]
        break
    return []


def decode_input_problems(graph_dir: PathLike, model: PathLike, loglike_dir: Optional[PathLike] = None
                          ) -> List[str]:
    """:func:`graph_model_problems` and, for hybrid decoding, :func:`loglike_problems`."""
    out = graph_model_problems(graph_dir, model)
    if loglike_dir is not None:
        out += loglike_problems(loglike_dir, model_io.read_transition_model(Path(model)).num_pdfs, model)
    return out


def _read_alignments(ali_dir: Path) -> Tuple[Dict[str, int], int]:
    """utt -> alignment length; max transition-id under key ''."""
    from kaldi_kd.data.tables import read_int_vectors

    lengths: Dict[str, int] = {}
    max_tid = 0
    for f in sorted(glob.glob(str(ali_dir / "ali.*.gz"))):
        for utt, ali in read_int_vectors(f):
            lengths[utt] = len(ali)
            if len(ali):
                max_tid = max(max_tid, int(ali.max()))
    return lengths, max_tid


def _frame_counts(data_dir: Path) -> Dict[str, int]:
    """utt -> frames: utt2num_frames when present, else the feats.scp matrices' shapes."""
    u2n = data_dir / "utt2num_frames"
    if u2n.is_file():
        return {f[0]: int(f[1]) for f in (line.split() for line in u2n.read_text().splitlines()) if len(f) == 2}
    from kaldi_kd.data.tables import read_table

    return {utt: int(m.shape[0]) for utt, m in read_table(f"scp:{data_dir / 'feats.scp'}")}


def _feat_dim(data_dir: Path) -> int:
    from kaldi_kd.data.tables import read_table

    for _, m in read_table(f"scp:{data_dir / 'feats.scp'}"):
        return int(m.shape[1])
    return 0


def _alignment_problems(data_dir: Path, ali_dir: Path, rep: ExpCheckReport) -> List[str]:
    out = []
    lengths, max_tid = _read_alignments(ali_dir)
    frames = _frame_counts(data_dir)
    rep.num_data_utts, rep.num_aligned_utts = len(frames), len(lengths)
    extra = sorted(u for u in lengths if u not in frames)
    if extra:
        out.append(f"{len(extra)} alignment(s) in {ali_dir}/ali.*.gz for utterances not in {data_dir}/feats.scp: "
                   f"{_listed(extra)}")
    bad = sorted(u for u in lengths if u in frames and lengths[u] != frames[u])
    if bad:
        out.append(f"{len(bad)} alignment length(s) differ from the feature frame counts of {data_dir} "
                   f"(other features or frame shift?): "
                   + _listed([f"{u} ({lengths[u]} vs {frames[u]} frames)" for u in bad]))
    if max_tid > rep.num_transition_ids:
        out.append(f"{ali_dir}/ali.*.gz hold transition-id {max_tid} > {rep.num_transition_ids} of "
                   f"{ali_dir / 'final.mdl'}: alignments from another model")
    unaligned = len(frames) - (len(lengths) - len(extra))
    if unaligned > 0:
        rep.warnings.append(f"{unaligned} of {len(frames)} utterances of {data_dir} have no alignment "
                            f"(they are skipped in training)")
    return out


def _delta_order(ali_dir: Path) -> int:
    opts = ali_dir / "delta_opts"
    if opts.is_file():
        m = re.search(r"--delta-order[= ](\d+)", opts.read_text())
        if m:
            return int(m.group(1))
    return 2


def _dim_problems(data_dir: Path, ali_dir: Path, rep: ExpCheckReport, gmm_feats: bool,
                  expected_feat_dim: Optional[int]) -> List[str]:
    out = []
    rep.feat_dim = _feat_dim(data_dir)
    if expected_feat_dim is not None and rep.feat_dim != expected_feat_dim:
        out.append(f"feature dimension {rep.feat_dim} of {data_dir}/feats.scp differs from the "
                   f"{expected_feat_dim} the AM config expects (model.input_dim)")
    if not gmm_feats:
        return out
    if (ali_dir / "final.mat").is_file():
        rows, cols = model_io.read_matrix(ali_dir / "final.mat").shape
        if rows != rep.model_dim:
            out.append(f"{ali_dir / 'final.mat'} outputs {rows} dims, {ali_dir / 'final.mdl'} expects {rep.model_dim}")
        if cols not in (rep.feat_dim * k + e for k in range(1, 16, 2) for e in (0, 1)):
            out.append(f"{ali_dir / 'final.mat'} takes {cols} inputs: not a splice of the {rep.feat_dim}-dim "
                       f"features of {data_dir}")
        return out
    order = _delta_order(ali_dir)
    if rep.feat_dim * (order + 1) != rep.model_dim:
        out.append(f"feature dimension mismatch: {data_dir}/feats.scp has {rep.feat_dim}-dim features, "
                   f"with delta order {order} that is {rep.feat_dim * (order + 1)}, but {ali_dir / 'final.mdl'} "
                   f"has {rep.model_dim}-dim GMMs (pass the data dir the GMM was trained on)")
    return out


def check_kaldi_exp(data_dir: PathLike, ali_dir: PathLike, lang_dir: PathLike, graph_dir: PathLike,
                    expected_feat_dim: Optional[int] = None, gmm_feats: bool = True,
                    max_graph_mb: float = 256.0) -> ExpCheckReport:
    """Check that a Kaldi experiment's pieces fit together (see the module docstring).

    Args:
        data_dir: training data dir with feats.scp (the features the alignments were made on).
        ali_dir: alignment dir (final.mdl, tree, ali.*.gz).
        lang_dir: the lang dir (phones.txt, words.txt).
        graph_dir: the decoding graph dir (HCLG.fst, words.txt, phones.txt).
        expected_feat_dim: feature dimension an AM config expects (None: not checked).
        gmm_feats: check the feature dimension against the GMM (False when ``data_dir``
            holds other features with the same frames, e.g. fbank for the neural AM).
        max_graph_mb: HCLG.fst files up to this size have their transition-ids checked
            against the model (streamed through ``fstprint``).

    Returns:
        a report of the figures checked (warnings for what is odd but allowed).

    Raises:
        KaldiExpError: listing every mismatch found, each naming its files.
    """
    data_dir, ali_dir, lang_dir, graph_dir = map(Path, (data_dir, ali_dir, lang_dir, graph_dir))
    rep = ExpCheckReport()
    problems = _required(data_dir, ali_dir, lang_dir, graph_dir)
    if problems:
        raise KaldiExpError("Kaldi experiment check failed:\n  " + "\n  ".join(problems))
    problems += _model_problems(ali_dir, lang_dir, graph_dir, rep)
    problems += _graph_label_problems(graph_dir, ali_dir, rep.num_transition_ids, max_graph_mb)
    problems += _symbol_problems(lang_dir, ali_dir, graph_dir)
    problems += _alignment_problems(data_dir, ali_dir, rep)
    problems += _dim_problems(data_dir, ali_dir, rep, gmm_feats, expected_feat_dim)
    if problems:
        raise KaldiExpError(f"Kaldi experiment check failed ({len(problems)} problem(s)):\n  " + "\n  ".join(problems))
    for w in rep.warnings:
        logger.warning("%s", w)
    logger.info("Kaldi experiment consistent: %d pdfs, N=%d P=%d, %d transition-ids, %d/%d utterances aligned, "
                "feature dim %d, GMM dim %d", rep.num_pdfs, rep.context_width, rep.central_position,
                rep.num_transition_ids, rep.num_aligned_utts, rep.num_data_utts, rep.feat_dim, rep.model_dim)
    return rep
