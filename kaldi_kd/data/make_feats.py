"""Feature extraction for a whole data dir in N jobs (Kaldi's steps/make_mfcc.sh contract).

Outputs: ``<feat-dir>/raw_<type>_<set>.<n>.{ark,scp}``, ``<data-dir>/feats.scp`` (sorted),
``<data-dir>/utt2num_frames``, ``<data-dir>/conf/<type>.conf`` (the options used), and
per-job logs ``<log-dir>/make_<type>_<set>.<n>.log``.  CMVN: :func:`compute_cmvn_dir`
writes ``<cmvn-dir>/cmvn_<set>.{ark,scp}`` and ``<data-dir>/cmvn.scp``.

Run as ``python -m kaldi_kd.data.make_feats --job N ...`` it computes one job (what a
``$cmd`` runner calls).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.data.datadir import DataDir, DataDirError
from kaldi_kd.data.features import FeatureConfig, FeatureError, compute_cmvn, feat_dim, make_feats_job
from kaldi_kd.data.jobs import run_cmd_jobs, run_local_jobs

log = logging.getLogger(__name__)
_DERIVED = ("feats.scp", "cmvn.scp", "utt2num_frames")


@dataclass
class FeatSummary:
    """What a feature run produced."""

    num_utts: int
    num_frames: int
    dim: int

    def __str__(self) -> str:
        return f"{self.num_utts} utterances, {self.num_frames} frames, dim {self.dim}"


def _job_paths(feat_dir: Path, log_dir: Path, feat_type: str, name: str, job: str):
    stem = feat_dir / f"raw_{feat_type}_{name}.{job}"
    return Path(f"{stem}.ark"), Path(f"{stem}.scp"), log_dir / f"utt2num_frames.{job}"


def feature_job(job: int, split_dir: str, conf: str, feat_type: str, feat_dir: str,
                log_dir: str, name: str, compress: bool = False) -> int:
    """Compute job ``job``: features of ``split_dir/<job>``; returns its number of utterances."""
    cfg = FeatureConfig.from_file(conf, feat_type)
    ark, scp, u2nf = _job_paths(Path(feat_dir), Path(log_dir), feat_type, name, str(job))
    frames = make_feats_job(Path(split_dir) / str(job), cfg, ark, scp, compress=compress)
    write_text_atomic(u2nf, "".join(f"{u} {n}\n" for u, n in sorted(frames.items())))
    logging.info("job %d: %d utterances, %d frames -> %s", job, len(frames), sum(frames.values()), ark)
    return len(frames)


def make_feats(data_dir: str, log_dir: str, feat_dir: str, cfg: FeatureConfig, num_jobs: int = 4,
               cmd: Optional[str] = None, compress: bool = False) -> FeatSummary:
    """Compute features of ``data_dir`` in ``num_jobs`` jobs and combine them.

    Args:
        data_dir: Kaldi data dir with wav.scp (and segments) and utt2spk.
        log_dir: per-job logs.
        feat_dir: where the arks/scps go (made absolute, as Kaldi does).
        cfg: feature type and options.
        num_jobs: jobs (per utterance split; reduced to the number of utterances).
        cmd: a Kaldi-style runner (e.g. ``steps_py/run.pl``); None runs jobs in-process.
        compress: write Kaldi compressed matrices (as Kaldi's ``--compress true``; lossy).

    Raises:
        DataDirError / FeatureError / JobError naming the file, utterance or failed log.
    """
    data, logd, featd = Path(data_dir), Path(log_dir), Path(feat_dir).absolute()
    name = data.name
    d = DataDir.load(data)
    for f in _DERIVED:  # old features would be stale; keep a backup as Kaldi does
        if (data / f).exists():
            (data / ".backup").mkdir(exist_ok=True)
            shutil.move(str(data / f), str(data / ".backup" / f))
    d = DataDir.load(data).validate(require_text=False)
    num_jobs = max(1, min(num_jobs, len(d.utts)))
    featd.mkdir(parents=True, exist_ok=True)
    logd.mkdir(parents=True, exist_ok=True)
    conf = data / "conf" / f"{cfg.feat_type}.conf"
    write_text_atomic(conf, cfg.to_kaldi_conf())
    d.split(num_jobs, per_utt=True)
    split = data / f"split{num_jobs}utt"
    kwargs = dict(split_dir=str(split), conf=str(conf), feat_type=cfg.feat_type, feat_dir=str(featd),
                  log_dir=str(logd), name=name, compress=compress)
    log_pattern = str(logd / f"make_{cfg.feat_type}_{name}.JOB.log")
    if cmd:
        argv = [sys.executable, "-m", "kaldi_kd.data.make_feats", "--job", "JOB"] + \
               [f"--{k.replace('_', '-')}={v}" for k, v in kwargs.items() if k != "compress"] + \
               (["--compress"] if compress else [])
        run_cmd_jobs(cmd, num_jobs, log_pattern, argv)
    else:
        run_local_jobs(feature_job, num_jobs, log_pattern, kwargs, progress=f"{cfg.feat_type} {name}")
    return _combine(d, featd, logd, cfg.feat_type, name, num_jobs)


def _combine(d: DataDir, featd: Path, logd: Path, feat_type: str, name: str, num_jobs: int) -> FeatSummary:
    scp_lines: List[str] = []
    u2nf: Dict[str, int] = {}
    for n in range(1, num_jobs + 1):
        _, scp, nf = _job_paths(featd, logd, feat_type, name, str(n))
        for p in (scp, nf):
            if not p.is_file():
                raise FeatureError(f"{p}: expected file to exist (job {n} did not finish)")
        scp_lines += scp.read_text().splitlines()
        for line in nf.read_text().splitlines():
            utt, frames = line.split()
            u2nf[utt] = int(frames)
    missing = sorted(set(d.utts) - set(u2nf))
    if missing:
        raise FeatureError(f"{d.path}: no features for {len(missing)} utterance(s): {' '.join(missing[:10])}")
    write_text_atomic(d.path / "feats.scp", "".join(l + "\n" for l in sorted(scp_lines)))
    write_text_atomic(d.path / "utt2num_frames", "".join(f"{u} {n}\n" for u, n in sorted(u2nf.items())))
    return FeatSummary(len(u2nf), sum(u2nf.values()), feat_dim(d.path))


def compute_cmvn_dir(data_dir: str, cmvn_dir: str) -> int:
    """Per-speaker CMVN stats of ``data_dir`` into ``cmvn_dir/cmvn_<set>.ark`` + ``data_dir/cmvn.scp``.

    Returns:
        the number of speakers.
    """
    data = Path(data_dir)
    ark = Path(cmvn_dir).absolute() / f"cmvn_{data.name}.ark"
    stats = compute_cmvn(data, ark, scp=data / "cmvn.scp")
    shutil.copyfile(data / "cmvn.scp", ark.with_suffix(".scp"))
    return len(stats)


def _job_main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description="one feature job (called through a $cmd runner)")
    p.add_argument("--job", type=int, required=True)
    for k in ("split-dir", "conf", "feat-type", "feat-dir", "log-dir", "name"):
        p.add_argument(f"--{k}", required=True)
    p.add_argument("--compress", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    try:
        feature_job(a.job, a.split_dir, a.conf, a.feat_type, a.feat_dir, a.log_dir, a.name, a.compress)
    except (DataDirError, FeatureError, ValueError) as err:
        logging.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_job_main())
