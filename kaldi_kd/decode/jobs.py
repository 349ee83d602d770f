"""Decode jobs: one job decodes its utterances into ``<decode-dir>/lat.JOB.gz``.

Sources of log-likelihoods per job (:class:`DecodeJob`):

* ``loglikes``: a loglike dir written by ``steps_py/nnet_forward.py`` holding
  ``loglikes.N.ark`` (job N reads split N) or ``loglikes.scp`` (job N reads the
  utterances of ``<data>/split<nj>/N``);
* ``gmm``: a GMM ``final.mdl``; features from the data dir (CMVN, deltas inferred
  from the model's dimension), log-likelihoods from the GMMs.

A job writes its lattice file atomically, so a killed job leaves no ``lat.N.gz``
and is simply rerun; finished jobs are skipped unless ``overwrite``.  With a
built Kaldi (``detect_backend().is_kaldi``) the loglike path runs Kaldi's own
``latgen-faster-mapped`` with the same options (:func:`kaldi_latgen_command`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from kaldi_kd.decode.decoder import DecodeError, DecoderConfig, MappedDecoder, gmm_loglikes, read_graph
from kaldi_kd.decode.lattice_io import write_compact_lattice_entry
from kaldi_kd.data.atomic import atomic_path

PathLike = Union[str, os.PathLike]
logger = logging.getLogger(__name__)


@dataclass
class DecodeJob:
    """Everything one decode job needs (picklable, passed to worker processes).

    Attributes:
        graph: HCLG.fst path.
        trans_model: model file holding the TransitionModel (final.mdl).
        decode_dir: output dir (lat.JOB.gz).
        kind: "loglikes" or "gmm".
        source: loglike dir (kind loglikes) or data dir (kind gmm).
        data_dir: the data dir (its split<nj>/JOB selects utterances when needed).
        num_jobs: nj.
        config: DecoderConfig fields.
        overwrite: redo a job whose lat.JOB.gz exists.
        progress: show a tqdm bar over utterances.
    """

    graph: str
    trans_model: str
    decode_dir: str
    kind: str
    source: str
    data_dir: str
    num_jobs: int
    config: Dict = field(default_factory=dict)
    overwrite: bool = False
    progress: bool = False


def lattice_path(decode_dir: PathLike, job: int) -> Path:
    return Path(decode_dir) / f"lat.{job}.gz"


def _job_utts(data_dir: PathLike, num_jobs: int, job: int) -> List[str]:
    from kaldi_kd.data.datadir import DataDir

    d = DataDir.load(data_dir)
    if num_jobs == 1:
        return list(d.utts)
    return list(d.split(num_jobs)[job - 1].utts)


def loglike_items(spec: DecodeJob, job: int) -> Iterator[Tuple[str, np.ndarray]]:
    """(utt, (T, num_pdfs) log-likelihoods) for ``job``."""
    from kaldi_kd.data.tables import ScpReader, read_table

    if spec.kind == "gmm":
        from kaldi_kd.data.features import FeatureReader
        from kaldi_kd.gmm.model_io import read_model

        _, am = read_model(spec.trans_model)
        dim = int(am.dim)
        utts = _job_utts(spec.data_dir, spec.num_jobs, job)
        reader = FeatureReader(spec.source, cmvn=True)
        base = reader.raw(utts[0]).shape[1]
        if dim % base:
            raise DecodeError(f"{spec.trans_model}: model dimension {dim} is not a multiple of "
                              f"the feature dimension {base} of {spec.source}")
        reader = FeatureReader(spec.source, cmvn=True, deltas=dim // base - 1)
        for utt in utts:
            yield utt, gmm_loglikes(am, reader[utt])
        return
    src = Path(spec.source)
    ark = src / f"loglikes.{job}.ark"
    if ark.is_file():
        yield from read_table(ark)
    elif (src / "loglikes.scp").is_file():
        reader = ScpReader(src / "loglikes.scp")
        for utt in _job_utts(spec.data_dir, spec.num_jobs, job):
            if utt not in reader:
                logger.warning("utterance '%s' has no log-likelihoods in %s; skipped", utt, src)
                continue
            yield utt, reader[utt]
    else:
        raise DecodeError(f"expected {ark} or {src / 'loglikes.scp'} to exist")


def run_decode_job(job: int, spec: DecodeJob) -> Dict[str, float]:
    """Decode one job into ``lat.JOB.gz`` (atomically); returns its statistics.

    Skips the job (returns ``{"skipped": 1}``) when its lattice exists and not
    ``spec.overwrite``.
    """
    out = lattice_path(spec.decode_dir, job)
    if out.exists() and not spec.overwrite:
        logger.info("job %d: %s exists, skipped (use --overwrite to redo)", job, out)
        return {"skipped": 1.0}
    from kaldi_kd.gmm.model_io import read_transition_model

    cfg = DecoderConfig(**spec.config)
    tm = read_transition_model(spec.trans_model)
    decoder = MappedDecoder(read_graph(spec.graph), tm, cfg)
    stats = {"utts": 0.0, "frames": 0.0, "seconds": 0.0, "cpu_seconds": 0.0, "search_cpu": 0.0,
             "determinize_cpu": 0.0, "failed": 0.0, "partial": 0.0, "retried": 0.0, "like": 0.0}
    t0, c0 = time.perf_counter(), time.process_time()
    items = loglike_items(spec, job)
    if spec.progress:
        from tqdm import tqdm
        items = tqdm(items, desc=f"decode job {job}", unit="utt")
    import gzip
    with atomic_path(out) as tmp, gzip.open(tmp, "wb") as f:
        for utt, ll in items:
            try:
                res = decoder.decode(ll, utt)
            except DecodeError as err:
                logger.warning("%s", err)
                stats["failed"] += 1
                continue
            write_compact_lattice_entry(f, utt, res.lattice)
            stats["utts"] += 1
            stats["frames"] += res.num_frames
            stats["like"] += res.likelihood
            stats["partial"] += res.partial
            stats["retried"] += res.beam_used > cfg.beam
            stats["search_cpu"] += res.info["search_s"]
            stats["determinize_cpu"] += res.info["determinize_s"]
            logger.info("%s: %d frames, like %.2f, beam %.1f%s, raw lattice %d arcs, lattice %d states "
                        "%d arcs; CPU search %.3f s, determinization %.3f s", utt, res.num_frames,
                        res.likelihood, res.beam_used, " (partial)" if res.partial else "",
                        res.info["raw_arcs"], res.lattice.num_states, res.lattice.num_arcs,
                        res.info["search_s"], res.info["determinize_s"])
    stats["seconds"] = time.perf_counter() - t0
    stats["cpu_seconds"] = time.process_time() - c0
    audio = max(stats["frames"] * 0.01, 1e-9)
    logger.info("job %d: %d utterances, %d frames, %d failed, %d partial, %d needed a wider beam; "
                "average log-like per frame %.4f; RTF %.4f wall, %.4f CPU (search %.4f, "
                "determinization %.4f; 10 ms frames)", job, stats["utts"], stats["frames"],
                stats["failed"], stats["partial"], stats["retried"], stats["like"] / max(stats["frames"], 1),
                stats["seconds"] / audio, stats["cpu_seconds"] / audio, stats["search_cpu"] / audio,
                stats["determinize_cpu"] / audio)
    if stats["utts"] == 0:
        raise DecodeError(f"job {job}: no utterance decoded")
    return stats


def kaldi_latgen_command(backend, spec: DecodeJob, job: int, words: Optional[str] = None) -> List[str]:
    """Kaldi's ``latgen-faster-mapped`` command line for ``job`` (real Kaldi backend).

    Reads ``loglikes.JOB.ark`` (or the job's utterances of ``loglikes.scp`` via
    ``subset`` is not done: use per-job arks) and writes ``lat.JOB.gz`` through gzip.
    """
    from kaldi_kd.kaldi.backend import kaldi_binary

    cfg = DecoderConfig(**spec.config)
    opts = [f"--beam={float(cfg.beam):g}", f"--lattice-beam={float(cfg.lattice_beam):g}",
            f"--max-active={cfg.max_active}", f"--min-active={cfg.min_active}",
            f"--acoustic-scale={float(cfg.acoustic_scale):g}",
            f"--allow-partial={'true' if cfg.allow_partial else 'false'}"]
    if words:
        opts.append(f"--word-symbol-table={words}")
    ark = Path(spec.source) / f"loglikes.{job}.ark"
    return [kaldi_binary(backend, "latgen-faster-mapped"), *opts, spec.trans_model, spec.graph,
            f"ark:{ark}", f"ark:|gzip -c > {lattice_path(spec.decode_dir, job)}"]


def run_kaldi_decode_job(job: int, spec: DecodeJob, backend) -> Dict[str, float]:
    """Run Kaldi's latgen-faster-mapped for one job (the "kaldi" backend), atomically."""
    out = lattice_path(spec.decode_dir, job)
    if out.exists() and not spec.overwrite:
        return {"skipped": 1.0}
    cmd = kaldi_latgen_command(backend, spec, job)
    tmp = out.with_name(f".{out.name}.tmp")
    cmd[-1] = f"ark:|gzip -c > {tmp}"
    logger.info("%s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    logger.info("%s", proc.stderr[-4000:])
    if proc.returncode != 0:
        raise DecodeError(f"job {job}: latgen-faster-mapped failed (rc {proc.returncode})")
    os.replace(tmp, out)
    return {"kaldi": 1.0}
