#!/usr/bin/env python3
"""Compute scaled log-likelihoods log p(pdf|x) - log prior(pdf) of a trained AM for decoding.

Usage:
    nnet_forward.py [options] <data-dir> <am-exp-dir> <out-dir>
e.g.:
    nnet_forward.py --nj 4 --cmd "steps_py/run.pl" data/test_fbank exp/tdnn exp/tdnn/loglikes_test

Writes <out-dir>/loglikes.N.ark + loglikes.N.scp (N = 1..nj; Kaldi float matrices, one
row per input frame, one column per pdf), num_jobs and log/forward.N.log.  Reads
<am-exp-dir>/{best.pt (see --checkpoint),config.yaml} and the priors: post_prior_counts
(the model's average posterior, written by train_am.py / compute_priors.py) when it
exists, else prior_counts (alignment counts); --priors chooses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kaldi_kd.am.forward import check_forward_inputs, forward_job
from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.data.datadir import DataDir
from kaldi_kd.data.jobs import run_cmd_jobs, run_local_jobs
from kaldi_kd.errors import run_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] <data-dir> <am-exp-dir> <out-dir>\n"
              "e.g.: %(prog)s --nj 4 data/test_fbank exp/tdnn exp/tdnn/loglikes_test")
    # options with defaults, in one block
    p.add_argument("--nj", type=int, default=4, help="number of jobs (data dir split per speaker)")
    p.add_argument("--cmd", default="", help="Kaldi-style job runner, e.g. steps_py/run.pl (default: in-process)")
    p.add_argument("--prior-floor", type=float, default=1e-8, help="floor of the normalised priors")
    p.add_argument("--priors", default="auto", choices=["auto", "posterior", "alignment"],
                   help="post_prior_counts | prior_counts (auto: the first that exists)")
    p.add_argument("--checkpoint", default="best.pt", help="model file inside <am-exp-dir> (best.pt or final.pt)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--job", type=int, default=0, help=argparse.SUPPRESS)   # one job (used through --cmd)
    p.add_argument("data_dir", metavar="<data-dir>")
    p.add_argument("am_dir", metavar="<am-exp-dir>")
    p.add_argument("out_dir", metavar="<out-dir>")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    data_dir, am_dir, out_dir = Path(args.data_dir), Path(args.am_dir), Path(args.out_dir)
    kwargs = dict(data_dir=str(data_dir), am_dir=str(am_dir), out_dir=str(out_dir), nj=args.nj,
                  prior_floor=args.prior_floor, checkpoint=args.checkpoint, device=args.device,
                  priors=args.priors)
    if args.job:                                   # a single job started by --cmd
        forward_job(job=args.job, **kwargs)
        return 0
    check_forward_inputs(data_dir, am_dir, args.checkpoint, args.priors)
    (out_dir / "log").mkdir(parents=True, exist_ok=True)
    DataDir.load(data_dir).split(args.nj)
    if args.cmd:
        argv_job = [sys.executable, str(Path(__file__).resolve()), "--job", "JOB", "--nj", str(args.nj),
                    "--prior-floor", str(args.prior_floor), "--priors", args.priors, "--checkpoint", args.checkpoint,
                    "--device", args.device, str(data_dir), str(am_dir), str(out_dir)]
        run_cmd_jobs(args.cmd, args.nj, str(out_dir / "log" / "forward.JOB.log"), argv_job)
    else:
        run_local_jobs(forward_job, args.nj, str(out_dir / "log" / "forward.JOB.log"), kwargs,
                       progress="nnet_forward")
    write_text_atomic(out_dir / "num_jobs", f"{args.nj}\n")
    print(f"nnet_forward.py: wrote {out_dir}/loglikes.{{1..{args.nj}}}.scp")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
