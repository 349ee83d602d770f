#!/usr/bin/env python3
"""LDA+MLLT triphone training (Kaldi's steps/train_lda_mllt.sh contract), "tri2".

Usage: train_lda_mllt.py [options] <num-leaves> <tot-gauss> <data-dir> <lang-dir> <ali-dir> <exp-dir>
 e.g.: train_lda_mllt.py --nj 4 --cmd steps_py/run.pl 400 4000 data/train data/lang exp/tri1_ali exp/tri2

Features: CMVN'd MFCC spliced +-3 frames, LDA to --dim, MLLT at iterations 2 4 6 12.
Writes <exp-dir>/{final.mdl, final.mat, tree, ali.JOB.gz, num_jobs, splice_opts,
cmvn_opts, feats.yaml, log/}.  Rerunnable.
"""

import argparse
import sys
from pathlib import Path

from kaldi_kd.errors import run_main
from kaldi_kd.gmm.stage import (add_beam_options, add_em_options, add_job_options,
                              add_tree_options, add_triphone_arguments, em_options, log_training_done,
                              require_files, setup_logging, triphone_inputs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options and defaults (train_lda_mllt.sh's)
    add_job_options(p)
    add_em_options(p, num_iters=35, max_iter_inc=25, realign_iters="10 20 30")
    add_beam_options(p)
    add_tree_options(p)
    p.add_argument("--mllt-iters", default="2 4 6 12", help="iterations that update MLLT")
    p.add_argument("--dim", type=int, default=40, help="LDA output dimension")
    p.add_argument("--splice", type=int, default=3, help="frames of context each side")
    add_triphone_arguments(p)
    a = p.parse_args()
    setup_logging(Path(a.exp_dir) / "log" / "train_lda_mllt.log", "train_lda_mllt")
    require_files("train_lda_mllt.py", triphone_inputs(a, ["phones/sets.int", "phones/roots.int", "phones/silence.int"]))
    from kaldi_kd.gmm.train_lda_mllt import LdaMlltConfig, train_lda_mllt

    cfg = LdaMlltConfig(**em_options(a), mllt_iters=tuple(int(x) for x in a.mllt_iters.split()),
                        dim=a.dim, splice=a.splice, beam=a.beam, retry_beam=a.retry_beam,
                        thresh=a.thresh, cluster_thresh=a.cluster_thresh)
    logs = train_lda_mllt(a.num_leaves, a.tot_gauss, a.data_dir, a.lang_dir, a.ali_dir, a.exp_dir,
                          cfg, nj=a.nj, cmd=a.cmd or None)
    log_training_done(a.exp_dir, logs, "final.mdl + final.mat")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
