#!/usr/bin/env python3
"""Kaldi data dir of one LibriSpeech part (Kaldi's local/data_prep.sh).

Usage: librispeech_data_prep.py [options] <corpus-part-dir> <data-dir>
 e.g.: librispeech_data_prep.py db/LibriSpeech/train-clean-100 data/train_clean_100

Reads <spk>/<chapter>/<spk>-<chapter>.trans.txt and the .flac files beside them, and
SPEAKERS.TXT (in the part dir or its parent) for spk2gender.  Writes <data-dir>/{wav.scp
(flac or sox pipes), text, utt2spk, spk2utt (speaker = <spk>-<chapter>), spk2gender} and
<data-dir>/log/data_prep.log.  See kaldi_kd.corpus.librispeech.
"""

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.corpus.librispeech import LibriSpeechError, prepare_librispeech_part
from kaldi_kd.data.datadir import DataDirError
from kaldi_kd.errors import run_main


def main() -> int:
    p = argparse.ArgumentParser(
        usage="%(prog)s [options] <corpus-part-dir> <data-dir>\n"
              " e.g.: %(prog)s db/LibriSpeech/train-clean-100 data/train_clean_100",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block)
    p.add_argument("--flac-decoder", default="auto", choices=["auto", "flac", "sox"],
                   help="tool in the wav.scp pipes (auto: flac if on PATH, else sox)")
    p.add_argument("part_dir")
    p.add_argument("data_dir")
    a = p.parse_args()
    log_dir = Path(a.data_dir) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=[logging.FileHandler(log_dir / "data_prep.log", mode="w"),
                                  logging.StreamHandler()])
    try:
        prepare_librispeech_part(a.part_dir, a.data_dir, a.flac_decoder)
    except (LibriSpeechError, DataDirError) as err:
        logging.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
