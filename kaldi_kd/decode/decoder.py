"""Decode log-likelihood matrices through HCLG into word lattices (``latgen-faster-mapped``).

Per utterance: a (T, num_pdfs) matrix of log-likelihoods (pdf-ids as columns) is
mapped to transition-ids (column j of the decodable is transition-id j+1, scaled by
the acoustic scale), decoded through HCLG with kaldi-decoder's
``LatticeSimpleDecoder`` (the only wheel decoder that hands out its raw
state-level lattice), and the raw lattice is determinized on words with the
lattice beam (:mod:`kaldi_kd.decode.determinize`).  As Kaldi does, the stored
lattice has acoustic costs divided back by the acoustic scale.

When no final state survives the beam the decode is retried with a wider beam
(``retry_beams``); if none reaches a final state, kaldi_hmm_gmm's
LatticeFasterDecoder (which has max-active and an adaptive beam) is tried and, if
it reaches a final state, its *best path only* is kept as a one-path lattice
(``info["best_path_only"]``); otherwise the partial lattice (final probabilities
ignored) is kept when ``allow_partial`` (Kaldi's ``--allow-partial=true``), or the
utterance fails.

Hybrid log-likelihoods (log p(pdf|x) - log prior) are often > 0, i.e. negative arc
costs; the search and the pruned determinization are exact for costs of any sign,
so no offset is applied (the same holds for :func:`decode_decodable` and for Kaldi's
own ``latgen-faster-mapped`` on the "kaldi" backend).

Differences from Kaldi's ``latgen-faster-mapped``: ``LatticeSimpleDecoder`` prunes
only with ``beam`` (no ``max_active`` histogram pruning, so ``max_active`` is
recorded but does not bound the search); ``max_active`` *is* applied by the
best-path-only decoders (``kaldi_hmm_gmm.LatticeFasterDecoder``) used as fallback.
On the digits graphs the beam keeps ~60-150 tokens per frame (raw lattice states /
frames), far below Kaldi's default ``max_active`` 7000, so the bound would not bind
there; the search cost is that of the simple (map-based) decoder itself.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.decode.determinize import determinize_lattice_pruned
from kaldi_kd.decode.lattice import (
    CompactLattice, Lattice, best_path, linear_compact_lattice, scale_lattice,
)
from kaldi_kd.decode.lattice_io import lattice_from_kaldifst
from kaldi_kd.kaldi.wheels import kaldi_decoder, kaldi_hmm_gmm, kaldifst
from kaldi_kd.errors import InputError, KaldiKdError

logger = logging.getLogger(__name__)


class DecodeError(KaldiKdError, RuntimeError):
    """Decoding of an utterance failed; the message names the utterance."""


@dataclass
class DecoderConfig:
    """Options of ``latgen-faster-mapped`` (same names, same defaults as Kaldi's decode.sh).

    Attributes:
        beam: decoding beam.
        lattice_beam: lattice beam (pruning of the raw and determinized lattices).
        max_active: histogram pruning bound (only the fallback decoder applies it).
        min_active: lower bound of active states (fallback decoder).
        acoustic_scale: scale of the log-likelihoods (``--acoustic-scale``, 0.1 for
            GMMs and cross-entropy DNNs).
        allow_partial: keep a partial lattice when no final state is reached.
        retry_beams: beam multipliers tried in turn when no final state survives.
        prune_interval: raw-lattice pruning interval in frames.
        determinize: determinize on words (False: keep the raw lattice, converted).
        det_max_raw_arcs: raw-lattice size bound for determinization (the lattice
            beam is tightened past it, see determinize_lattice_pruned).
    """

    beam: float = 13.0
    lattice_beam: float = 8.0
    max_active: int = 7000
    min_active: int = 200
    acoustic_scale: float = 0.1
    allow_partial: bool = True
    retry_beams: Tuple[float, ...] = (1.5, 2.5)
    prune_interval: int = 25
    determinize: bool = True
    det_max_raw_arcs: int = 150000

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


def read_graph(path: Union[str, Path]):
    """Read HCLG.fst (OpenFst vector or const) for the wheel decoders.

    Raises:
        FileNotFoundError / ValueError naming the file.
    """
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"expected graph {path} to exist")
    with open(path, "rb") as f:
        head = f.read(64)
    kind = head[8:8 + int.from_bytes(head[4:8], "little")] if len(head) >= 8 else b""
    fst = kaldifst.StdConstFst.read(path) if kind == b"const" else kaldifst.StdVectorFst.read(path)
    if fst is None:
        raise InputError(f"{path}: cannot read as an OpenFst graph")
    return fst


class MappedDecoder:
    """Decode pdf log-likelihood matrices through one graph with one transition model.

    Example:
        >>> dec = MappedDecoder(read_graph("exp/tri1/graph/HCLG.fst"),
        ...                     read_transition_model("exp/tri1/final.mdl"))  # doctest: +SKIP
        >>> res = dec.decode(loglikes)                                          # doctest: +SKIP
    """

    def __init__(self, graph, trans_model, config: Optional[DecoderConfig] = None):
        self.graph = graph
        self.trans_model = trans_model
        self.config = config or DecoderConfig()
        # tid2pdf[j] = pdf of transition-id j+1
        self.tid2pdf = np.asarray(trans_model.transition_id_to_pdf_array(), dtype=np.int64)[1:]
        self.num_pdfs = int(trans_model.num_pdfs)

    # -- decodable ---------------------------------------------------------
    def map_loglikes(self, loglikes: np.ndarray, utt: str = "") -> np.ndarray:
        """(T, num_pdfs) pdf log-likelihoods -> (T, num_tids) scaled, contiguous float32."""
        loglikes = np.asarray(loglikes)
        if loglikes.ndim != 2 or loglikes.shape[1] != self.num_pdfs:
            raise DecodeError(f"utterance '{utt}': log-likelihoods have shape {loglikes.shape}, "
                              f"expected (T, {self.num_pdfs}) for this model")
        if not np.all(np.isfinite(loglikes)):
            raise DecodeError(f"utterance '{utt}': log-likelihoods contain NaN or inf")
        mat = loglikes[:, self.tid2pdf] * self.config.acoustic_scale
        return np.ascontiguousarray(mat, dtype=np.float32)

    # -- decoding ----------------------------------------------------------
    def _raw_lattice(self, mat, beam: float) -> Tuple[Optional[Lattice], bool]:
        """Raw lattice at ``beam`` from a mapped matrix or any kaldi_decoder decodable."""
        cfg = self.config
        dcfg = kaldi_decoder.LatticeSimpleDecoderConfig(
            beam=beam, lattice_beam=cfg.lattice_beam, prune_interval=cfg.prune_interval,
            determinize_lattice=False, prune_lattice=True)
        dec = kaldi_decoder.LatticeSimpleDecoder(self.graph, dcfg)
        dec.decode(kaldi_decoder.DecodableCtc(mat) if isinstance(mat, np.ndarray) else mat)
        reached = math.isfinite(dec.final_relative_cost())
        # decode() finalizes, after which only use_final_probs=True is allowed; with no
        # final token active Kaldi's GetRawLattice then treats every token as final
        # (a partial lattice)
        try:
            ok, raw = dec.get_raw_lattice(use_final_probs=True)
        except RuntimeError as err:
            logger.warning("LatticeSimpleDecoder gave no lattice: %s", err)
            return None, False
        if not ok or raw.num_states == 0:
            return None, reached
        return lattice_from_kaldifst(raw), reached

    def decode(self, loglikes: np.ndarray, utt: str = "") -> DecodeResult:
        """Decode one utterance's (T, num_pdfs) log-likelihoods into a lattice.

        Raises:
            DecodeError: naming ``utt`` when decoding fails (bad shape, no surviving
                path, or no final state and ``allow_partial`` is False).
        """
        t0 = time.perf_counter()
        cfg = self.config
        mat = self.map_loglikes(loglikes, utt)
        if mat.shape[0] == 0:
            raise DecodeError(f"utterance '{utt}': zero frames")
        # hybrid log-likelihoods (log p(pdf|x) - log prior) are often > 0, i.e. negative
        # arc costs: the decoder and the pruned determinization handle any sign exactly
        raw, reached, beam = None, False, cfg.beam
        t_search = time.perf_counter()
        for mult in (1.0,) + tuple(cfg.retry_beams):
            beam = cfg.beam * mult
            raw, reached = self._raw_lattice(mat, beam)
            if reached:
                break
            logger.warning("utterance '%s': no final state at beam %.1f", utt, beam)
        if not reached:
            # LatticeSimpleDecoder has no max-active/adaptive beam; LatticeFasterDecoder
            # may still reach a final state: then keep its best path as a one-path lattice
            try:
                res = decode_best_path_faster(self.graph, self.trans_model, loglikes, cfg, utt,
                                              allow_partial=False)
                res.info["best_path_only"] = True
                res.seconds = time.perf_counter() - t0
                logger.warning("utterance '%s': lattice decoder reached no final state; "
                               "kept LatticeFasterDecoder's best path only", utt)
                return res
            except DecodeError:
                pass
        if raw is None or (not reached and not cfg.allow_partial):
            raise DecodeError(f"utterance '{utt}': decoding failed (no final state reached "
                              f"up to beam {beam:.1f})")
        t_det = time.perf_counter()
        search_s = t_det - t_search
        if cfg.determinize:
            clat = determinize_lattice_pruned(raw, cfg.lattice_beam, max_raw_arcs=cfg.det_max_raw_arcs)
        else:
            from kaldi_kd.decode.determinize import lattice_to_compact
            clat = lattice_to_compact(raw)
        if clat.start < 0:
            raise DecodeError(f"utterance '{utt}': empty lattice after determinization")
        bp = best_path(clat)
        clat = scale_lattice(clat, 1.0, 1.0 / cfg.acoustic_scale)
        return DecodeResult(
            lattice=clat, words=bp.words, alignment=bp.alignment,
            likelihood=-bp.total_cost, num_frames=mat.shape[0], beam_used=beam,
            partial=not reached, seconds=time.perf_counter() - t0,
            info={"search_s": search_s, "determinize_s": time.perf_counter() - t_det,
                  "raw_states": raw.num_states})


def decode_decodable(decoder: "MappedDecoder", decodable, utt: str = "") -> DecodeResult:
    """Decode any ``kaldi_decoder.DecodableInterface`` (e.g. a Python subclass whose
    ``log_likelihood(frame, tid)`` returns *scaled* log-likelihoods of transition-ids)
    with ``decoder``'s graph and options; no beam retries or fallback.

    Raises:
        DecodeError: when no lattice is produced (or no final state and not allow_partial).
    """
    t0 = time.perf_counter()
    cfg = decoder.config
    raw, reached = decoder._raw_lattice(decodable, cfg.beam)
    if raw is None or (not reached and not cfg.allow_partial):
        raise DecodeError(f"utterance '{utt}': decoding failed at beam {cfg.beam:.1f}")
    clat = determinize_lattice_pruned(raw, cfg.lattice_beam, max_raw_arcs=cfg.det_max_raw_arcs)
    bp = best_path(clat)
    return DecodeResult(lattice=scale_lattice(clat, 1.0, 1.0 / cfg.acoustic_scale), words=bp.words,
                        alignment=bp.alignment, likelihood=-bp.total_cost,
                        num_frames=len(bp.alignment), beam_used=cfg.beam, partial=not reached,
                        seconds=time.perf_counter() - t0)


def decode_best_path_faster(graph, trans_model, loglikes: np.ndarray, config: DecoderConfig,
                            utt: str = "", allow_partial: Optional[bool] = None) -> DecodeResult:
    """Best path only, with kaldi_hmm_gmm's LatticeFasterDecoder (applies ``max_active``).

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
