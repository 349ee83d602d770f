#!/usr/bin/env python3
"""Decode log-likelihoods (or a GMM) through HCLG into lattices (like Kaldi's decode.sh).

Usage: decode.py [options] <graph-dir> <data-dir> <loglike-dir-or-model> <decode-dir>
 e.g.: decode.py --nj 4 exp/tri1/graph data/test exp/tdnn/loglikes_test exp/tdnn/decode_test
       decode.py --nj 4 exp/tri1/graph data/test exp/tri1/final.mdl exp/tri1/decode_test

<loglike-dir-or-model>: a dir with loglikes.N.ark (N = 1..nj) or loglikes.scp
(written by steps_py/nnet_forward.py), or a GMM model file (final.mdl: features
from <data-dir>).  Writes <decode-dir>/lat.N.gz, num_jobs, decode.yaml,
log/decode.N.log; then scores (steps_py/score.py defaults) unless --skip-scoring.
Jobs whose lat.N.gz exists are skipped unless --overwrite.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.decode.jobs import DecodeJob
from kaldi_kd.decode.stage import (
    StageError, add_decoder_options, decoder_config_from_args, find_trans_model, loglike_num_jobs,
    require, run_backend_job, run_decode_stage, score_after_decode,
)
from kaldi_kd.errors import run_main
from kaldi_kd.gmm.exp_check import KaldiExpError, decode_input_problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults as Kaldi's steps/decode.sh / latgen-faster-mapped)
    p.add_argument("--nj", type=int, default=4, help="number of jobs")
    p.add_argument("--cmd", default="", help="job runner, e.g. 'steps_py/run.pl' (default: in-process)")
    add_decoder_options(p)
    p.add_argument("--trans-model", default="", help="final.mdl with the TransitionModel "
                   "(default: <loglike-dir>/final.mdl, then <decode-dir>/../final.mdl, <graph-dir>/../final.mdl)")
    p.add_argument("--overwrite", action="store_true", help="redo jobs whose lat.N.gz exists")
    p.add_argument("--skip-scoring", action="store_true", help="do not score after decoding")
    p.add_argument("--job", default="", help=argparse.SUPPRESS)  # internal: run one job (from --cmd)
    p.add_argument("graph_dir")
    p.add_argument("data_dir")
    p.add_argument("source", metavar="loglike_dir_or_model")
    p.add_argument("decode_dir")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    graph, data, src, ddir = Path(args.graph_dir), Path(args.data_dir), Path(args.source), Path(args.decode_dir)
    try:
        require(graph / "HCLG.fst", data)
        if src.is_file():  # a GMM model
            kind, model, source = "gmm", src, str(data)
            require(data / "feats.scp", data / "cmvn.scp")
            nj = args.nj
        else:
            require(src)
            kind, source = "loglikes", str(src)
            model = Path(args.trans_model) if args.trans_model else find_trans_model(
                [src / "final.mdl", ddir.parent / "final.mdl", graph.parent / "final.mdl"])
            require(model)
            nj = loglike_num_jobs(src) or args.nj
            if nj != args.nj and not args.job:
                logging.info("%s has %d loglike splits: using --nj %d", src, nj, nj)
    except StageError as err:
        print(f"decode.py: {err}", file=sys.stderr)
        return 1
    if not args.job:  # the graph, the model and the log-likelihoods must belong together
        problems = decode_input_problems(graph, model, src if kind == "loglikes" else None)
        if problems:
            raise KaldiExpError("\n".join(problems))
    spec = DecodeJob(graph=str(graph / "HCLG.fst"), trans_model=str(model), decode_dir=str(ddir),
                     kind=kind, source=source, data_dir=str(data), num_jobs=nj,
                     config=decoder_config_from_args(args), overwrite=args.overwrite,
                     progress=(nj == 1 and not args.job))
    if args.job:  # one job, logging to stderr (the runner's log file)
        run_backend_job(int(args.job), spec)
        return 0
    script_args = [a for a in (argv if argv is not None else sys.argv[1:])]
    run_decode_stage(spec, args.cmd or None, str(Path(__file__).resolve()), script_args)
    if not args.skip_scoring:
        score_after_decode(data, graph, ddir)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
