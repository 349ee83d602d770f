#!/usr/bin/env python3
"""Align a data dir with a speaker-independent GMM system (Kaldi's steps/align_si.sh).

Usage: align_si.py [options] <data-dir> <lang-dir> <src-dir> <align-dir>
 e.g.: align_si.py --nj 4 --cmd steps_py/run.pl data/train data/lang exp/mono exp/mono_ali

Writes <align-dir>/{ali.JOB.gz, final.mdl, tree, num_jobs, failed_utts, log/align.JOB.log}.
Utterances that fail even at --retry-beam are listed in failed_utts and the logs and
get no alignment.  Outputs are written atomically; rerun after a kill.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.errors import run_main
from kaldi_kd.gmm.stage import (add_beam_options, add_job_options, require_files,
                              setup_logging)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options and defaults (align_si.sh's)
    add_job_options(p)
    add_beam_options(p)
    p.add_argument("--careful", action="store_true")
    p.add_argument("--boost-silence", type=float, default=1.0)
    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("src_dir")
    p.add_argument("align_dir")
    a = p.parse_args()
    setup_logging(Path(a.align_dir) / "log" / "align_si.log", "align_si")
    require_files("align_si.py", [Path(a.data_dir) / f for f in ("feats.scp", "cmvn.scp", "text", "utt2spk")]
                  + [Path(a.lang_dir) / f for f in ("L.fst", "words.txt", "oov.int")]
                  + [Path(a.src_dir) / f for f in ("final.mdl", "tree")])
    from kaldi_kd.gmm.align import AlignConfig, align_si

    cfg = AlignConfig(beam=a.beam, retry_beam=a.retry_beam, careful=a.careful,
                      boost_silence=a.boost_silence)
    totals = align_si(a.data_dir, a.lang_dir, a.src_dir, a.align_dir, cfg, nj=a.nj, cmd=a.cmd or None)
    if totals["failed"]:
        logging.warning("%d utterances failed to align: %s", len(totals["failed"]),
                        " ".join(totals["failed"][:20]) + (" ..." if len(totals["failed"]) > 20 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
