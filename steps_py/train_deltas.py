#!/usr/bin/env python3
"""Triphone GMM-HMM training on delta features (Kaldi's steps/train_deltas.sh contract).

Usage: train_deltas.py [options] <num-leaves> <tot-gauss> <data-dir> <lang-dir> <ali-dir> <exp-dir>
 e.g.: train_deltas.py --nj 4 --cmd steps_py/run.pl 300 3000 data/train data/lang exp/mono_ali exp/tri1

Builds the decision tree from <ali-dir>'s alignments (tree stats, phone-clustered
questions + extra questions, greedy splitting to <num-leaves>), initialises and
trains the triphone model.  Writes <exp-dir>/{tree, questions.int, treeacc.npz,
1..N.mdl, final.mdl, ali.JOB.gz, num_jobs, config.yaml, log/}.  Rerunnable.
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
    # options and defaults (train_deltas.sh's)
    add_job_options(p)
    add_em_options(p, num_iters=35, max_iter_inc=25, realign_iters="10 20 30")
    add_beam_options(p)
    add_tree_options(p)
    add_triphone_arguments(p)
    a = p.parse_args()
    setup_logging(Path(a.exp_dir) / "log" / "train_deltas.log", "train_deltas")
    require_files("train_deltas.py", triphone_inputs(a, ["phones/sets.int", "phones/roots.int", "phones/context_indep.int"]))
    from kaldi_kd.gmm.train_deltas import DeltasConfig, train_deltas

    cfg = DeltasConfig(**em_options(a), beam=a.beam, retry_beam=a.retry_beam,
                       cluster_thresh=a.cluster_thresh, thresh=a.thresh)
    logs = train_deltas(a.num_leaves, a.tot_gauss, a.data_dir, a.lang_dir, a.ali_dir, a.exp_dir,
                        cfg, nj=a.nj, cmd=a.cmd or None)
    log_training_done(a.exp_dir, logs)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
