"""Helpers shared by the GMM stage scripts: options, input checks and logging set-up."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]


class StageInputError(KaldiKdError, FileNotFoundError):
    """A stage input is missing; the message names the file."""


def require_files(script: str, paths: Iterable[PathLike]) -> None:
    """Raise :class:`StageInputError` naming the first missing file (Kaldi's check).

    ``script`` is kept for callers; the reporting script's name is added by
    :func:`kaldi_kd.errors.run_main`.
    """
    for p in paths:
        if not Path(p).is_file():
            raise StageInputError(f"{p}: expected file to exist (is the previous stage done?)")


LEVEL_NAME_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: PathLike, name: str, fmt: Optional[str] = None) -> None:
    """Log INFO to the console and to ``log_file`` (overwritten; its folder is made).

    ``fmt`` defaults to ``"<time> <name>: <message>"``; the lang/graph scripts pass
    :data:`LEVEL_NAME_FORMAT` (level and logger name too).
    """
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format=fmt or f"%(asctime)s {name}: %(message)s",
                        handlers=[logging.StreamHandler(),
                                  logging.FileHandler(log_file, mode="w")], force=True)


def config_yaml(d: dict) -> str:
    """A config dict (tuples as lists) as YAML, for ``<exp-dir>/config.yaml``."""
    import yaml

    return yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in d.items()},
                          sort_keys=False)


def copy_phones_txt(lang_dir: PathLike, exp_dir: PathLike) -> None:
    """Copy ``lang/phones.txt`` into the exp dir, as Kaldi's training/alignment scripts
    do (``utils/lang/check_phones_compatible.sh`` compares it later)."""
    import shutil

    from kaldi_kd.data.atomic import atomic_path

    with atomic_path(Path(exp_dir) / "phones.txt") as tmp:
        shutil.copyfile(Path(lang_dir) / "phones.txt", tmp)


def add_job_options(p: argparse.ArgumentParser) -> None:
    """``--nj`` and ``--cmd`` (Kaldi's parallel-job options) with Kaldi's defaults."""
    p.add_argument("--nj", type=int, default=4, help="parallel jobs (default 4)")
    p.add_argument("--cmd", default="", help="Kaldi-style job runner, e.g. steps_py/run.pl "
                   "(default: run jobs in-process with per-job logs)")


def add_em_options(p: argparse.ArgumentParser, num_iters: int, max_iter_inc: int,
                   realign_iters: str) -> None:
    """The EM training options of train_{mono,deltas,lda_mllt}.sh; the defaults that differ
    between them are arguments, the rest are Kaldi's shared defaults."""
    p.add_argument("--num-iters", type=int, default=num_iters)
    p.add_argument("--max-iter-inc", type=int, default=max_iter_inc, help="last iteration that adds Gaussians")
    p.add_argument("--realign-iters", default=realign_iters, help="iterations that realign")
    p.add_argument("--boost-silence", type=float, default=1.0)
    p.add_argument("--power", type=float, default=0.25, help="exponent for mixture allocation")
    p.add_argument("--careful", action="store_true")


def add_beam_options(p: argparse.ArgumentParser) -> None:
    """``--beam`` / ``--retry-beam`` of the alignment passes (Kaldi's defaults)."""
    p.add_argument("--beam", type=float, default=10.0)
    p.add_argument("--retry-beam", type=float, default=40.0)


def add_tree_options(p: argparse.ArgumentParser) -> None:
    """build-tree's ``--cluster-thresh`` / ``--thresh`` (Kaldi's defaults)."""
    p.add_argument("--cluster-thresh", type=float, default=-1.0,
                   help="leaf clustering threshold (negative: smallest split gain)")
    p.add_argument("--thresh", type=float, default=300.0, help="minimum log-likelihood gain of a split")


def add_triphone_arguments(p: argparse.ArgumentParser) -> None:
    """The positional arguments of the triphone trainers:
    ``<num-leaves> <tot-gauss> <data-dir> <lang-dir> <ali-dir> <exp-dir>``."""
    p.add_argument("num_leaves", type=int)
    p.add_argument("tot_gauss", type=int)
    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("ali_dir")
    p.add_argument("exp_dir")


def triphone_inputs(a: argparse.Namespace, lang_files: Sequence[str]) -> List[Path]:
    """The files a triphone trainer needs: the data dir's features, transcripts and speakers,
    the lang dir's lexicon, topology, tables and ``lang_files``, the source alignments."""
    return ([Path(a.data_dir) / f for f in ("feats.scp", "cmvn.scp", "text", "utt2spk")]
            + [Path(a.lang_dir) / f for f in ("L.fst", "topo", "words.txt", "oov.int", *lang_files)]
            + [Path(a.ali_dir) / f for f in ("final.mdl", "num_jobs", "ali.1.gz")])


def em_options(a: argparse.Namespace) -> Dict[str, Any]:
    """Config fields from :func:`add_em_options` options: iteration lists parsed, and
    ``max_iter_inc`` kept below ``num_iters`` (as Kaldi's scripts do)."""
    return dict(realign_iters=tuple(int(x) for x in a.realign_iters.split()), num_iters=a.num_iters,
                max_iter_inc=min(a.max_iter_inc, max(1, a.num_iters - 1)), boost_silence=a.boost_silence,
                power=a.power, careful=a.careful)


def log_training_done(exp_dir: PathLike, logs: Sequence[Any], outputs: str = "final.mdl") -> None:
    """Log the last EM iteration's summary (nothing when no iteration ran)."""
    if logs:
        last = logs[-1]
        logging.info("done: %s/%s, last iteration %d: %.4f per frame, %d Gaussians, "
                     "%d utterances failed to align", exp_dir, outputs, last.iteration,
                     last.like_per_frame, last.num_gauss, len(last.failed))
