"""The decode stage (``steps_py/decode.py``, ``steps_py/decode_gmm.py``): check inputs,
run N jobs (through ``--cmd`` or in-process), write ``num_jobs`` and the options, score.

Layout of ``<decode-dir>``: ``lat.N.gz``, ``num_jobs``, ``decode.yaml`` (the options),
``log/decode.N.log``, and after scoring ``wer_*``, ``scoring_kaldi/``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional, Union

import yaml

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.decode.decoder import DecoderConfig
from kaldi_kd.decode.jobs import DecodeJob, lattice_path, run_decode_job, run_kaldi_decode_job
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]
logger = logging.getLogger(__name__)


class StageError(KaldiKdError, RuntimeError):
    """A stage input is missing; the message names the file."""


def require(*paths: PathLike) -> None:
    for p in paths:
        if not Path(p).exists():
            raise StageError(f"expected file {p} to exist")


def find_trans_model(candidates: List[Path]) -> Path:
    """The first existing ``final.mdl`` among ``candidates``."""
    for c in candidates:
        if c.is_file():
            return c
    raise StageError("no transition model: expected one of " + ", ".join(map(str, candidates))
                     + " to exist (or pass --trans-model)")


def loglike_num_jobs(loglike_dir: Path) -> Optional[int]:
    """Number of ``loglikes.N.ark`` splits in a loglike dir (None when it has only an scp)."""
    n = 0
    while (loglike_dir / f"loglikes.{n + 1}.ark").is_file():
        n += 1
    return n or None


def run_decode_stage(spec: DecodeJob, cmd: Optional[str], script: str, script_args: List[str]) -> None:
    """Run all jobs of ``spec``; per-job logs in ``decode_dir/log/decode.JOB.log``.

    With ``cmd`` the jobs run as ``$cmd JOB=1:N log/decode.JOB.log python script --job JOB ...``;
    without, in a local process pool.
    """
    from kaldi_kd.data.jobs import run_cmd_jobs, run_local_jobs

    ddir = Path(spec.decode_dir)
    (ddir / "log").mkdir(parents=True, exist_ok=True)
    write_text_atomic(ddir / "decode.yaml", yaml.safe_dump(
        {**asdict(spec), "config": spec.config}, sort_keys=False))
    todo = [j for j in range(1, spec.num_jobs + 1)
            if spec.overwrite or not lattice_path(ddir, j).exists()]
    if not todo:
        logger.info("all %d lattices exist in %s; nothing to do (--overwrite to redo)", spec.num_jobs, ddir)
    elif cmd:
        argv = [sys.executable, script, "--job", "JOB"] + script_args
        run_cmd_jobs(cmd, spec.num_jobs, str(ddir / "log" / "decode.JOB.log"), argv)
    else:
        run_local_jobs(run_backend_job, spec.num_jobs, str(ddir / "log" / "decode.JOB.log"), {"spec": spec},
                       progress="decode")
    write_text_atomic(ddir / "num_jobs", f"{spec.num_jobs}\n")


def run_backend_job(job: int, spec: DecodeJob):
    """Decode one job with the backend the environment selects: Kaldi's latgen-faster-mapped
    for log-likelihoods when ``KALDI_ROOT`` holds a built Kaldi, else the embedded decoder.
    Used by the local pool and by each ``--cmd`` job (``--job JOB``) alike."""
    from kaldi_kd.kaldi.backend import detect_backend

    backend = detect_backend()
    if backend.is_kaldi and spec.kind == "loglikes":
        return run_kaldi_decode_job(job, spec, backend)
    return run_decode_job(job, spec)


def add_decoder_options(parser) -> None:
    """The latgen-faster-mapped options, defaults from :class:`DecoderConfig`."""
    d = DecoderConfig()
    parser.add_argument("--beam", type=float, default=d.beam, help="decoding beam")
    parser.add_argument("--lattice-beam", type=float, default=d.lattice_beam, help="lattice beam")
    parser.add_argument("--max-active", type=int, default=d.max_active, help="max active states")
    parser.add_argument("--min-active", type=int, default=d.min_active, help="min active states")
    parser.add_argument("--acwt", type=float, default=d.acoustic_scale, help="acoustic scale")


def decoder_config_from_args(args) -> dict:
    return DecoderConfig(beam=args.beam, lattice_beam=args.lattice_beam, max_active=args.max_active,
                         min_active=args.min_active, acoustic_scale=args.acwt).to_dict()


def score_after_decode(data_dir: PathLike, graph_dir: PathLike, decode_dir: PathLike) -> None:
    """Score with the default sweep when references and words.txt exist (as decode.sh does)."""
    from kaldi_kd.score.score_dir import ScoringConfig, score_decode_dir, wip_str

    if not (Path(data_dir) / "text").is_file() or not (Path(graph_dir) / "words.txt").is_file():
        logger.info("no %s/text or %s/words.txt: not scoring", data_dir, graph_dir)
        return
    s = score_decode_dir(data_dir, graph_dir, decode_dir, ScoringConfig())
    logger.info("best: %s (LMWT %d, WIP %s)", s.best.kaldi_line(), s.best_lmwt, s.best_wip)
    print(f"{s.best.kaldi_line()} {decode_dir}/wer_{s.best_lmwt}_{wip_str(s.best_wip)}")
