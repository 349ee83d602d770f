"""Forced alignment with a GMM-HMM: compile-train-graphs, align-equal-compiled,
gmm-boost-silence and gmm-align-compiled on the embedded backend.

Training graphs come from the wheel's ``TrainingGraphCompiler`` (L.fst + the
transcript; transition probabilities left out, as ``compile-train-graphs`` does,
and added at alignment time with ``transition_scale``/``self_loop_scale`` because
they change every iteration).  Alignment is the wheel's
``align_utterance_wrapper`` (Kaldi's AlignUtteranceWrapper: beam, then retry-beam).
An utterance that fails at the retry beam is *listed*, never given an alignment.

Alignments are transition-id sequences, one per frame, written as Kaldi int-vector
arks (``ali.N.gz``) through :func:`kaldi_kd.data.tables.write_int_vectors`; real
Kaldi's ``steps/align_si.sh`` writes the same files (with ``--cmd`` and per-job
logs), so either can feed the next stage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst
from kaldi_kd.errors import KaldiKdError

log = logging.getLogger(__name__)


@dataclass
class AlignConfig:
    """gmm-align-compiled options (train_mono.sh / align_si.sh defaults)."""

    beam: float = 10.0
    retry_beam: float = 40.0
    careful: bool = False
    acoustic_scale: float = 0.1
    transition_scale: float = 1.0
    self_loop_scale: float = 0.1
    boost_silence: float = 1.0


@dataclass
class AlignResult:
    """Alignments of a set of utterances and what gmm-align-compiled logs."""

    alignments: Dict[str, np.ndarray] = field(default_factory=dict)
    failed: List[str] = field(default_factory=list)
    retried: int = 0
    tot_like: float = 0.0
    frames: int = 0

    @property
    def like_per_frame(self) -> float:
        return self.tot_like / self.frames if self.frames else 0.0


class TranscriptError(KaldiKdError, ValueError):
    """A transcript problem naming the utterance."""


def transcripts_to_ids(text: Mapping[str, str], lang) -> Tuple[Dict[str, List[int]], int]:
    """Map each utterance's words to ids (OOV words -> ``lang.oov_id``), like sym2int.pl.

    Returns:
        (utt -> word ids, number of OOV tokens mapped).
    """
    out, num_oov = {}, 0
    for utt, line in text.items():
        words = line.split()
        ids = lang.word_ids(words)
        num_oov += sum(1 for w in words if w not in lang.words)
        out[utt] = ids
    return out, num_oov


class GraphCompiler:
    """compile-train-graphs: the wheel's TrainingGraphCompiler (no transition probs).

    The C++ compiler keeps references to the transition model, tree and lexicon
    FST; this object owns them so Python cannot free them first (a temporary
    lexicon FST passed straight to TrainingGraphCompiler crashed the interpreter).
    """

    def __init__(self, trans_model, ctx_dep, lex_fst):
        self.trans_model, self.ctx_dep, self.lex_fst = trans_model, ctx_dep, lex_fst
        kaldifst.arcsort(self.lex_fst, sort_type="olabel")
        opts = kaldi_hmm_gmm.TrainingGraphCompilerOptions(transition_scale=0.0,
                                                          self_loop_scale=0.0, reorder=True)
        self.compiler = kaldi_hmm_gmm.TrainingGraphCompiler(trans_model, ctx_dep, self.lex_fst,
                                                            [], opts)

    def compile_graph_from_text(self, word_ids: List[int]):
        return self.compiler.compile_graph_from_text(list(word_ids))


def make_graph_compiler(trans_model, ctx_dep, lex_fst) -> GraphCompiler:
    """A :class:`GraphCompiler` (owning its inputs)."""
    return GraphCompiler(trans_model, ctx_dep, lex_fst)


def compile_graphs(compiler, transcripts: Mapping[str, Sequence[int]]) -> Dict[str, object]:
    """utt -> training graph (StdVectorFst).  Raises TranscriptError on an empty graph."""
    graphs = {}
    for utt, ids in transcripts.items():
        g = compiler.compile_graph_from_text(list(ids))
        if g.num_states == 0:
            raise TranscriptError(f"utterance '{utt}': empty training graph for word ids {list(ids)}")
        graphs[utt] = g
    return graphs


def boost_silence(am_gmm, trans_model, phones: Sequence[int], factor: float):
    """gmm-boost-silence: a copy of ``am_gmm`` with the weights of the pdfs of
    ``phones`` multiplied by ``factor`` (factor 1 returns ``am_gmm`` itself)."""
    if factor == 1.0 or not phones:
        return am_gmm
    _, pdfs = kaldi_hmm_gmm.get_pdfs_for_phones(trans_model, list(phones))
    # pickle state: (weights, inv_vars, means_invvars) per pdf; gconsts recomputed on load
    state = list(am_gmm.__getstate__())
    for pdf in pdfs:
        state[3 * pdf] = np.asarray(state[3 * pdf], np.float32) * np.float32(factor)
    boosted = kaldi_hmm_gmm.AmDiagGmm.__new__(kaldi_hmm_gmm.AmDiagGmm)
    boosted.__setstate__(tuple(state))
    return boosted


def equal_align(graph, num_frames: int, seed: int = 0) -> Optional[np.ndarray]:
    """align-equal-compiled for one utterance: a path of ``num_frames`` transition-ids
    through ``graph`` with frames shared equally among its states (None if impossible)."""
    ok, path = kaldifst.equal_align(graph, num_frames, seed)
    if not ok:
        return None
    ok, tids, _, _ = kaldifst.get_linear_symbol_sequence(path)
    if not ok or len(tids) != num_frames:
        return None
    return np.asarray(tids, dtype=np.int32)


def align_utterance(trans_model, am_gmm, graph, feats: np.ndarray, cfg: AlignConfig,
                    utt: str = "utt") -> Tuple[Optional[np.ndarray], float, bool]:
    """gmm-align-compiled for one utterance.

    Args:
        graph: the training graph without transition probs (not modified).
        am_gmm: the model to score with (already silence-boosted if wanted).

    Returns:
        (alignment or None if it failed at the retry beam, log-likelihood, retried).
    """
    g = graph.copy()
    kaldi_hmm_gmm.add_transition_probs(trans_model, [], cfg.transition_scale,
                                       cfg.self_loop_scale, g)
    # the decodable copies the features but keeps references to am_gmm and trans_model
    x = np.ascontiguousarray(feats, np.float32)
    dec = kaldi_hmm_gmm.DecodableAmDiagGmmScaled(am_gmm, trans_model, x, cfg.acoustic_scale)
    acfg = kaldi_hmm_gmm.AlignConfig(beam=cfg.beam, retry_beam=cfg.retry_beam, careful=cfg.careful)
    done, err, retried, like, frames, ali, _ = kaldi_hmm_gmm.align_utterance_wrapper(
        acfg, utt, cfg.acoustic_scale, g, dec, 0, 0, 0, 0.0, 0)
    del dec, g, x  # the decodable before the model it references
    if not done or not ali:
        return None, 0.0, bool(retried)
    return np.asarray(ali, dtype=np.int32), float(like), bool(retried)


def align_set(trans_model, am_gmm, graphs: Mapping[str, object],
              features: Mapping[str, np.ndarray], cfg: AlignConfig,
              silence_phones: Sequence[int] = (), utts: Optional[Iterable[str]] = None,
              progress: bool = False) -> AlignResult:
    """Align every utterance that has a graph and features; failures are listed.

    Utterances without features or graphs are listed as failed too (with a warning),
    so nothing is dropped silently.
    """
    from tqdm import tqdm

    am = boost_silence(am_gmm, trans_model, silence_phones, cfg.boost_silence)
    res = AlignResult()
    utts = list(utts if utts is not None else graphs)
    for utt in tqdm(utts, desc="align", unit="utt", disable=not progress):
        if utt not in graphs:
            log.warning("No training graph for utterance %s", utt)
            res.failed.append(utt)
            continue
        try:
            feats = features[utt]
        except KeyError:
            log.warning("No features for utterance %s", utt)
            res.failed.append(utt)
            continue
        ali, like, retried = align_utterance(trans_model, am, graphs[utt], feats, cfg, utt)
        res.retried += int(retried)
        if ali is None:
            log.warning("Did not successfully align utterance %s (%d frames) even at "
                        "retry beam %g", utt, len(feats), cfg.retry_beam)
            res.failed.append(utt)
            continue
        if len(ali) != len(feats):
            raise RuntimeError(f"utterance '{utt}': alignment has {len(ali)} transition-ids "
                               f"for {len(feats)} frames")
        res.alignments[utt] = ali
        res.tot_like += like
        res.frames += len(ali)
    log.info("Done %d, errors on %d, retried %d; overall log-likelihood per frame is %.4f "
             "over %d frames", len(res.alignments), len(res.failed), res.retried,
             res.like_per_frame, res.frames)
    if res.failed:
        log.info("Failed utterances: %s", " ".join(res.failed))
    return res


# ---------------------------------------------------------------- align_si stage

@dataclass
class AlignJobSpec:
    """One alignment job of :func:`align_si` (JSON-serialisable for ``--cmd``)."""

    split_dir: str
    lang_dir: str
    out_dir: str
    beam: float = 10.0
    retry_beam: float = 40.0
    careful: bool = False
    boost_silence: float = 1.0
    feats: dict = field(default_factory=dict)   # FeatOpts of the model dir


def align_job(job: int, spec: AlignJobSpec) -> dict:
    """Align split ``job`` with ``out_dir/final.mdl`` + ``tree``; write ``ali.job.gz``.

    Returns:
        {"done": n, "failed": [utt...], "frames": n, "like": total}
    """
    from pathlib import Path

    from kaldi_kd.data.datadir import DataDir
    from kaldi_kd.data.tables import write_int_vectors
    from kaldi_kd.gmm import model_io
    from kaldi_kd.gmm.gmm_feats import FeatOpts, GmmFeatures
    from kaldi_kd.gmm.lang import Lang
    from kaldi_kd.gmm.stats import limit_blas_threads

    limit_blas_threads(1)
    out = Path(spec.out_dir)
    tm, am = model_io.read_model(out / "final.mdl")
    ctx = model_io.read_tree(out / "tree")
    lang = Lang(spec.lang_dir, validate=False)
    data = DataDir.load(Path(spec.split_dir) / str(job))
    feats = GmmFeatures(data.path, FeatOpts(**spec.feats), model_dir=out)
    transcripts, num_oov = transcripts_to_ids(data.text, lang)
    if num_oov:
        log.info("%d OOV words mapped to %s", num_oov, lang.oov_word)
    graphs = compile_graphs(make_graph_compiler(tm, ctx, lang.lexicon_fst()), transcripts)
    missing = sorted(set(data.utts) - set(graphs))
    for utt in missing:
        log.warning("utterance %s has no transcript", utt)
    cfg = AlignConfig(beam=spec.beam, retry_beam=spec.retry_beam, careful=spec.careful,
                      boost_silence=spec.boost_silence)
    res = align_set(tm, am, graphs, feats, cfg, silence_phones=[lang.optional_silence],
                    utts=sorted(graphs), progress=True)
    write_int_vectors(out / f"ali.{job}.gz", sorted(res.alignments.items()))
    return {"done": len(res.alignments), "failed": sorted(res.failed + missing),
            "frames": res.frames, "like": res.tot_like}


def align_si(data_dir, lang_dir, src_dir, out_dir, cfg: Optional[AlignConfig] = None,
             nj: int = 4, cmd: Optional[str] = None) -> dict:
    """steps/align_si.sh: align ``data_dir`` with ``src_dir``'s model into ``out_dir``.

    Copies final.mdl (the file, not a link), tree and feature options into
    ``out_dir``, writes ali.N.gz, num_jobs, log/align.N.log and ``failed_utts``
    (one utterance id a line; empty when all aligned).

    Returns:
        totals: done, failed (list), frames, like_per_frame.
    """
    import shutil
    from pathlib import Path

    from kaldi_kd.data.atomic import atomic_path, write_text_atomic
    from kaldi_kd.data.datadir import DataDir
    from kaldi_kd.data.jobs import run_spec_jobs

    cfg = cfg or AlignConfig()
    src, out = Path(src_dir), Path(out_dir)
    (out / "log").mkdir(parents=True, exist_ok=True)
    from dataclasses import asdict

    from kaldi_kd.gmm.gmm_feats import FeatOpts, check_model_dim

    feat_opts = FeatOpts.load(src)
    check_model_dim(data_dir, feat_opts, src)
    names = ["final.mdl", "tree"] + ([feat_opts.transform] if feat_opts.transform else [])
    for name in names:
        with atomic_path(out / name) as tmp:
            shutil.copyfile(src / name, tmp)   # the file, also where src has a link
    feat_opts.save(out)
    from kaldi_kd.gmm.stage import copy_phones_txt

    copy_phones_txt(lang_dir, out)
    d = DataDir.load(data_dir)
    d.split(nj)
    spec = AlignJobSpec(str(d.path / f"split{nj}"), str(lang_dir), str(out), cfg.beam,
                        cfg.retry_beam, cfg.careful, cfg.boost_silence, asdict(feat_opts))
    results = run_spec_jobs(align_job, spec, nj, cmd, "kaldi_kd.gmm.align", out / "log", "align",
                            progress="align")
    write_text_atomic(out / "num_jobs", f"{nj}\n")
    failed = sorted(u for r in results for u in r["failed"])
    write_text_atomic(out / "failed_utts", "".join(f"{u}\n" for u in failed))
    frames = sum(r["frames"] for r in results)
    totals = {"done": sum(r["done"] for r in results), "failed": failed, "frames": frames,
              "like_per_frame": sum(r["like"] for r in results) / frames if frames else 0.0}
    log.info("aligned %d utterances, %d failed (listed in %s), log-likelihood per frame %.4f "
             "over %d frames", totals["done"], len(failed), out / "failed_utts",
             totals["like_per_frame"], frames)
    return totals


def main(argv=None) -> int:
    """``python -m kaldi_kd.gmm.align <spec.json> <job>``: one job for a ``--cmd`` runner."""
    from kaldi_kd.data.jobs import spec_job_main

    return spec_job_main(argv, "kaldi_kd.gmm.align", AlignJobSpec, align_job)


if __name__ == "__main__":
    import sys

    sys.exit(main())
