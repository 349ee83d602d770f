#!/usr/bin/env python3
"""LDA+MLLT triphone training (Kaldi's steps/train_lda_mllt.sh contract), "tri2".

Usage: train_lda_mllt.py [options] <num-leaves> <tot-gauss> <data-dir> <lang-dir> <ali-dir> <exp-dir>
 e.g.: train_lda_mllt.py --nj 4 --cmd steps_py/run.pl 400 4000 data/train data/lang exp/tri1_ali exp/tri2

Features: CMVN'd MFCC spliced +-3 frames, LDA to --dim, MLLT at iterations 2 4 6 12.
Writes <exp-dir>/{final.mdl, final.mat, tree, ali.JOB.gz, num_jobs, splice_opts,
cmvn_opts, feats.yaml, log/}.  Rerunnable.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.gmm.stage import StageInputError, require_files, setup_logging


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options and defaults (train_lda_mllt.sh's)
    p.add_argument("--nj", type=int, default=4)
    p.add_argument("--cmd", default="", help="Kaldi-style job runner (default: in-process jobs)")
    p.add_argument("--num-iters", type=int, default=35)
    p.add_argument("--max-iter-inc", type=int, default=25, help="last iteration that adds Gaussians")
    p.add_argument("--realign-iters", default="10 20 30", help="iterations that realign")
    p.add_argument("--mllt-iters", default="2 4 6 12", help="iterations that update MLLT")
    p.add_argument("--dim", type=int, default=40, help="LDA output dimension")
    p.add_argument("--splice", type=int, default=3, help="frames of context each side")
    p.add_argument("--beam", type=float, default=10.0)
    p.add_argument("--retry-beam", type=float, default=40.0)
    p.add_argument("--boost-silence", type=float, default=1.0)
    p.add_argument("--power", type=float, default=0.25)
    p.add_argument("--cluster-thresh", type=float, default=-1.0)
    p.add_argument("--thresh", type=float, default=300.0)
    p.add_argument("num_leaves", type=int)
    p.add_argument("tot_gauss", type=int)
    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("ali_dir")
    p.add_argument("exp_dir")
    a = p.parse_args()
    setup_logging(Path(a.exp_dir) / "log" / "train_lda_mllt.log", "train_lda_mllt")
    try:
        require_files("train_lda_mllt.py",
                      [Path(a.data_dir) / f for f in ("feats.scp", "cmvn.scp", "text", "utt2spk")]
                      + [Path(a.lang_dir) / f for f in ("L.fst", "topo", "words.txt", "oov.int", "phones/sets.int",
                                                          "phones/roots.int", "phones/silence.int")]
                      + [Path(a.ali_dir) / f for f in ("final.mdl", "num_jobs", "ali.1.gz")])
        from kaldi_kd.gmm.train_lda_mllt import LdaMlltConfig, train_lda_mllt

        cfg = LdaMlltConfig(realign_iters=tuple(int(x) for x in a.realign_iters.split()),
                            mllt_iters=tuple(int(x) for x in a.mllt_iters.split()),
                            num_iters=a.num_iters, max_iter_inc=min(a.max_iter_inc, max(1, a.num_iters - 1)),
                            dim=a.dim,
                            splice=a.splice, beam=a.beam, retry_beam=a.retry_beam,
                            boost_silence=a.boost_silence, power=a.power, thresh=a.thresh,
                            cluster_thresh=a.cluster_thresh)
        logs = train_lda_mllt(a.num_leaves, a.tot_gauss, a.data_dir, a.lang_dir, a.ali_dir, a.exp_dir,
                              cfg, nj=a.nj, cmd=a.cmd or None)
    except (StageInputError, FileNotFoundError, ValueError, RuntimeError) as err:
        logging.error("%s", err)
        return 1
    if logs:
        last = logs[-1]
        logging.info("done: %s/final.mdl + final.mat, last iteration %d: %.4f per frame, %d Gaussians, "
                     "%d utterances failed to align", a.exp_dir, last.iteration, last.like_per_frame,
                     last.num_gauss, len(last.failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
