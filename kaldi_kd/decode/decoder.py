"""Decode log-likelihood matrices through HCLG into word lattices (``latgen-faster-mapped``).

Per utterance: a (T, num_pdfs) matrix of log-likelihoods (pdf-ids as columns) is
decoded through HCLG by the compiled token-passing lattice decoder
(:mod:`kaldi_kd.decode._latgen`, sources in ``kaldi_kd/decode/csrc``): transition-id
``i`` on a graph arc scores ``acoustic_scale * loglikes[t, pdf(i)]``; the search prunes
with ``beam``, ``max_active`` and ``min_active`` (an adaptive beam, as Kaldi's
LatticeFasterDecoder), keeps the raw state-level lattice and prunes it with the
lattice beam every ``prune_interval`` frames and at the end.  The raw lattice is then
determinized with the lattice beam (the compiled form of
:mod:`kaldi_kd.decode.determinize`; by default in Kaldi's two passes, phones and words
then words, which gives latgen-faster-mapped's lattice states).  As Kaldi does, the
stored lattice has acoustic costs divided back by the acoustic scale, and float costs.
bench/decode_vs_kaldi.py compares the whole with Kaldi's binary: same best paths and
WERs, lattices with the same word sequences, at a fraction of its CPU time.

The graph is read once per process (:func:`read_graph` caches it): a ConstFst (what
Kaldi's ``utils/mkgraph.sh`` writes) is memory-mapped, so jobs decoding with the
same graph share its pages; a VectorFst is parsed into the same arrays.

When no final state survives the beam the decode is retried with a wider beam
(``retry_beams``, something Kaldi does not do); if none reaches a final state the
partial lattice (every last-frame token final) is kept when ``allow_partial``
(Kaldi's ``--allow-partial=true``), or the utterance fails.

Hybrid log-likelihoods (log p(pdf|x) - log prior) are often > 0, i.e. negative arc
costs; the search and the pruned determinization are exact for costs of any sign
(the search keeps costs relative to the best token of each frame, as Kaldi does),
so no offset is applied.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.decode import _latgen
from kaldi_kd.decode.lattice import CompactLattice, best_path, linear_compact_lattice
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm
from kaldi_kd.errors import KaldiKdError

logger = logging.getLogger(__name__)


class DecodeError(KaldiKdError, RuntimeError):
    """Decoding of an utterance failed; the message names the utterance."""


@dataclass
class DecoderConfig:
    """Options of ``latgen-faster-mapped`` (same names, same defaults as Kaldi's decode.sh).

    Attributes:
        beam: decoding beam.
        lattice_beam: lattice beam (pruning of the raw and determinized lattices).
        max_active: at most this many tokens are expanded per frame (histogram pruning).
        min_active: at least this many tokens are expanded per frame.
        acoustic_scale: scale of the log-likelihoods (``--acoustic-scale``, 0.1 for
            GMMs and cross-entropy DNNs).
        allow_partial: keep a partial lattice when no final state is reached.
        retry_beams: beam multipliers tried in turn when no final state survives.
        prune_interval: raw-lattice pruning interval in frames.
        beam_delta: added to the adaptive beam when max/min-active binds (Kaldi's
            ``--beam-delta``).
        determinize: determinize on words (False: keep the raw lattice, converted).
        phone_determinize: determinize on phones and words first, then on words (Kaldi's
            ``--phone-determinize``, its default): the same word sequences and costs as one
            pass on words, and the same lattice states as latgen-faster-mapped (hence the
            same out-of-beam paths, e.g. for lattice-oracle).
        det_max_raw_arcs: raw-lattice size bound for determinization (the lattice
            beam is tightened past it, see determinize_lattice_pruned); a guard against
            pathological lattices (Kaldi's is ``--max-mem``), far above the raw lattices
            of ordinary utterances (~100-300 arcs per frame at lattice beam 6).
    """

    beam: float = 13.0
    lattice_beam: float = 8.0
    max_active: int = 7000
    min_active: int = 200
    acoustic_scale: float = 0.1
    allow_partial: bool = True
    retry_beams: Tuple[float, ...] = (1.5, 2.5)
    prune_interval: int = 25
    beam_delta: float = 0.5
    determinize: bool = True
    phone_determinize: bool = True
    det_max_raw_arcs: int = 2000000

    def to_dict(self) -> dict:
        d = asdict(self)
        d["retry_beams"] = list(self.retry_beams)
        return d


@dataclass
class DecodeResult:
    """The result of decoding one utterance.

    Attributes:
        lattice: word-level CompactLattice (acoustic costs unscaled, as Kaldi writes).
        words: best-path word ids.
        alignment: best-path transition-ids, one per frame.
        likelihood: minus the total scaled cost of the best path (Kaldi's log "like").
        num_frames: T.
        beam_used: the beam that reached a final state.
        partial: True when no final state was reached.
        seconds: wall time of the decode.
        info: ``search_s`` / ``determinize_s`` (CPU seconds of this thread),
            ``raw_states`` / ``raw_arcs`` (raw lattice), ``tokens``, ``active_per_frame``,
            and the determinization's counters.
    """

    lattice: CompactLattice
    words: List[int]
    alignment: List[int]
    likelihood: float
    num_frames: int
    beam_used: float
    partial: bool = False
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


_GRAPHS: Dict[tuple, "_latgen.Graph"] = {}


def read_graph(path: Union[str, Path]) -> "_latgen.Graph":
    """Read HCLG.fst (OpenFst const or vector) once per process.

    The graph is cached by path, size and modification time: later calls in the same
    process (other jobs of a pool worker, other decoders) reuse it.  A ConstFst is
    memory-mapped.

    Raises:
        FileNotFoundError / ValueError naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"expected graph {path} to exist")
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    graph = _GRAPHS.get(key)
    if graph is None:
        graph = _latgen.Graph(str(p))
        _GRAPHS.clear()  # one graph per process is the common case: do not pile them up
        _GRAPHS[key] = graph
    return graph


def as_graph(graph) -> "_latgen.Graph":
    """A decoder graph from a path, a ``_latgen.Graph`` or a kaldifst FST (written to a
    temporary file and read back, for tests and in-memory graphs)."""
    if isinstance(graph, _latgen.Graph):
        return graph
    if isinstance(graph, (str, os.PathLike)):
        return read_graph(graph)
    if hasattr(graph, "write"):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "HCLG.fst")
            graph.write(path)
            return _latgen.Graph(path)
    raise TypeError(f"cannot decode with a graph of type {type(graph).__name__}")


def phone_start_table(trans_model) -> np.ndarray:
    """int32 array indexed by transition-id: the phone that the transition-id starts (its
    first non-self-loop transition), else 0 (the phone marks of the two-pass determinization)."""
    n = int(trans_model.num_transition_ids)
    table = np.zeros(n + 1, dtype=np.int32)
    for tid in range(1, n + 1):
        if trans_model.transition_ids_is_start_of_phone(tid) and not trans_model.is_self_loop(tid):
            table[tid] = trans_model.transition_id_to_phone(tid)
    return table


class MappedDecoder:
    """Decode pdf log-likelihood matrices through one graph with one transition model.

    Example:
        >>> dec = MappedDecoder("exp/tri1/graph/HCLG.fst",
        ...                     read_transition_model("exp/tri1/final.mdl"))  # doctest: +SKIP
        >>> res = dec.decode(loglikes)                                          # doctest: +SKIP
    """

    def __init__(self, graph, trans_model, config: Optional[DecoderConfig] = None):
        self.graph = as_graph(graph)
        self.trans_model = trans_model
        self.config = config or DecoderConfig()
        # indexed by transition-id (entry 0 unused)
        self.tid2pdf_table = np.ascontiguousarray(trans_model.transition_id_to_pdf_array(), dtype=np.int32)
        self.tid2pdf = self.tid2pdf_table[1:].astype(np.int64)  # tid2pdf[j]: pdf of transition-id j+1
        self.num_pdfs = int(trans_model.num_pdfs)
        self.phone_start = phone_start_table(trans_model)
        self._searchers: Dict[float, "_latgen.Decoder"] = {}

    def _searcher(self, beam: float) -> "_latgen.Decoder":
        """The compiled decoder for ``beam`` (one per beam, reused across utterances)."""
        dec = self._searchers.get(beam)
        if dec is None:
            cfg = self.config
            dec = _latgen.Decoder(self.graph, self.tid2pdf_table, beam=beam, lattice_beam=cfg.lattice_beam,
                                  max_active=cfg.max_active, min_active=cfg.min_active,
                                  prune_interval=cfg.prune_interval, beam_delta=cfg.beam_delta)
            self._searchers[beam] = dec
        return dec

    def check_loglikes(self, loglikes: np.ndarray, utt: str = "") -> np.ndarray:
        """(T, num_pdfs) pdf log-likelihoods as a C-contiguous float32 array.

        Raises:
            DecodeError: naming ``utt`` on a bad shape, no frames, or NaN/inf values.
        """
        loglikes = np.asarray(loglikes)
        if loglikes.ndim != 2 or loglikes.shape[1] != self.num_pdfs:
            raise DecodeError(f"utterance '{utt}': log-likelihoods have shape {loglikes.shape}, "
                              f"expected (T, {self.num_pdfs}) for this model")
        if loglikes.shape[0] == 0:
            raise DecodeError(f"utterance '{utt}': zero frames")
        loglikes = np.ascontiguousarray(loglikes, dtype=np.float32)
        if not np.all(np.isfinite(loglikes)):
            raise DecodeError(f"utterance '{utt}': log-likelihoods contain NaN or inf")
        return loglikes

    def search(self, loglikes: np.ndarray, utt: str = "") -> Tuple["_latgen.RawLattice", dict, float]:
        """The raw lattice of checked log-likelihoods, with wider beams as needed.

        Returns:
            (raw lattice, the search's info, the beam used).

        Raises:
            DecodeError: when no lattice survives, or no final state is reached and
                partial lattices are not allowed.
        """
        cfg = self.config
        raw, info, beam = None, {}, cfg.beam
        for mult in (1.0,) + tuple(cfg.retry_beams):
            beam = cfg.beam * mult
            raw, info = self._searcher(beam).decode(loglikes, cfg.acoustic_scale)
            if info["reached_final"] and raw.num_states > 0:
                break
            logger.warning("utterance '%s': no final state at beam %.1f", utt, beam)
        if raw.num_states == 0:
            raise DecodeError(f"utterance '{utt}': decoding failed (no token survived up to "
                              f"beam {beam:.1f})")
        if not info["reached_final"] and not cfg.allow_partial:
            raise DecodeError(f"utterance '{utt}': decoding failed (no final state reached "
                              f"up to beam {beam:.1f})")
        return raw, info, beam

    def determinize(self, raw: "_latgen.RawLattice", utt: str = "") -> Tuple[CompactLattice, dict]:
        """Word-level pruned determinization of a raw lattice (acoustic costs unscaled).

        With ``config.determinize`` False the raw lattice is only converted.
        """
        cfg = self.config
        inv = 1.0 / cfg.acoustic_scale
        if not cfg.determinize:
            from kaldi_kd.decode.determinize import lattice_to_compact
            from kaldi_kd.decode.lattice import Lattice, scale_lattice

            start, arcs, finals = raw.to_lists()
            return scale_lattice(lattice_to_compact(Lattice(arcs, finals, start)), 1.0, inv), {}
        start, arcs, finals, info = raw.determinize(
            cfg.lattice_beam, max_raw_arcs=cfg.det_max_raw_arcs, acoustic_scale=inv,
            phone_start=self.phone_start if cfg.phone_determinize else None)
        if info["beam_tightened"]:
            logger.warning("utterance '%s': raw lattice has more than %d arcs within the lattice beam: "
                           "beam tightened to %.2f", utt, cfg.det_max_raw_arcs, info["beam_used"])
        if info["retries"]:
            logger.warning("utterance '%s': determinization too big; lattice beam reduced to %.2f",
                           utt, info["beam_used"])
        return CompactLattice(arcs=arcs, finals=finals, start=start), info

    def decode(self, loglikes: np.ndarray, utt: str = "") -> DecodeResult:
        """Decode one utterance's (T, num_pdfs) log-likelihoods into a lattice.

        Raises:
            DecodeError: naming ``utt`` when decoding fails (bad shape, no surviving
                path, or no final state and ``allow_partial`` is False).
        """
        t0 = time.perf_counter()
        cfg = self.config
        ll = self.check_loglikes(loglikes, utt)
        c0 = time.thread_time()
        raw, search_info, beam = self.search(ll, utt)
        c1 = time.thread_time()
        clat, det_info = self.determinize(raw, utt)
        c2 = time.thread_time()
        if clat.start < 0:
            raise DecodeError(f"utterance '{utt}': empty lattice after determinization")
        bp = best_path(clat, acoustic_scale=cfg.acoustic_scale)
        info = {"search_s": c1 - c0, "determinize_s": c2 - c1, "raw_states": raw.num_states,
                "raw_arcs": raw.num_arcs, "tokens": search_info["tokens"],
                "active_per_frame": search_info["active_per_frame"], **{f"det_{k}": v for k, v in det_info.items()}}
        return DecodeResult(
            lattice=clat, words=bp.words, alignment=bp.alignment,
            likelihood=-(bp.graph_cost + cfg.acoustic_scale * bp.acoustic_cost), num_frames=ll.shape[0],
            beam_used=beam, partial=not search_info["reached_final"], seconds=time.perf_counter() - t0,
            info=info)


def decode_best_path_faster(graph, trans_model, loglikes: np.ndarray, config: DecoderConfig,
                            utt: str = "", allow_partial: Optional[bool] = None) -> DecodeResult:
    """Best path only, with kaldi_hmm_gmm's LatticeFasterDecoder (Kaldi's own decoder
    code in the wheel; ``graph`` a kaldifst FST).  A reference for tests and benchmarks.

    Its lattice is the single best path (:func:`linear_compact_lattice`), with the exact
    word sequence, alignment and costs (graph cost = total - acoustic) but word/frame
    boundaries split evenly: use it when a lattice is not needed.
    """
    t0 = time.perf_counter()
    tid2pdf = np.asarray(trans_model.transition_id_to_pdf_array(), dtype=np.int64)[1:]
    mat = np.ascontiguousarray(np.asarray(loglikes)[:, tid2pdf] * config.acoustic_scale,
                               dtype=np.float32)
    lcfg = kaldi_hmm_gmm.LatticeFasterDecoderConfig()
    lcfg.beam, lcfg.lattice_beam = config.beam, config.lattice_beam
    lcfg.max_active, lcfg.min_active = config.max_active, config.min_active
    kind = type(graph).__name__
    cls = (kaldi_hmm_gmm.LatticeFasterDecoderStdConstFst if "Const" in kind
           else kaldi_hmm_gmm.LatticeFasterDecoderStdVectorFst)
    dec = cls(graph, lcfg)
    ok, ali, words, like = kaldi_hmm_gmm.decode_utterance_lattice_faster(
        dec, kaldi_hmm_gmm.DecodableCtc(mat), trans_model, utt,
        config.allow_partial if allow_partial is None else allow_partial)
    if not ok or not len(ali):
        raise DecodeError(f"utterance '{utt}': LatticeFasterDecoder failed")
    rows = np.arange(len(ali))
    ac = -float(np.sum(mat[rows, np.asarray(ali, dtype=np.int64) - 1])) / config.acoustic_scale
    total_scaled = -float(like)
    graph_cost = total_scaled - ac * config.acoustic_scale
    clat = linear_compact_lattice(words, ali, graph_cost, ac)
    return DecodeResult(lattice=clat, words=list(words), alignment=list(ali), likelihood=float(like),
                        num_frames=mat.shape[0], beam_used=config.beam,
                        seconds=time.perf_counter() - t0)


def gmm_loglikes(am_gmm, feats: np.ndarray) -> np.ndarray:
    """(T, num_pdfs) GMM log-likelihoods of ``feats`` (what gmm-compute-likes gives).

    Uses each pdf's ``DiagGmm.log_likelihoods_matrix`` (component log-likelihoods
    including weights) and a log-sum-exp over components.
    """
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    out = np.empty((feats.shape[0], am_gmm.num_pdfs), dtype=np.float32)
    for p in range(am_gmm.num_pdfs):
        comp = np.asarray(am_gmm.get_pdf(p).log_likelihoods_matrix(feats), dtype=np.float64)
        m = comp.max(axis=1, keepdims=True)
        out[:, p] = (m[:, 0] + np.log(np.exp(comp - m).sum(axis=1)))
    return out


def words_to_text(words: Sequence[int], id2word: Sequence[str]) -> str:
    """Word ids -> space-joined words (``utils/int2sym.pl``)."""
    return " ".join(id2word[w] for w in words)
