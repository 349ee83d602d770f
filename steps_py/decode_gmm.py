#!/usr/bin/env python3
"""Decode a GMM system's test data into lattices (like Kaldi's steps/decode.sh for GMMs).

Usage: decode_gmm.py [options] <graph-dir> <data-dir> <decode-dir>
 e.g.: decode_gmm.py --nj 4 exp/mono/graph data/test exp/mono/decode_test

The model is <decode-dir>/../final.mdl (Kaldi's convention; --model to override).
Features: <data-dir>/feats.scp with per-speaker CMVN, deltas inferred from the
model dimension.  Log-likelihoods are what DecodableAmDiagGmmScaled computes
(gmm-compute-likes), decoded as steps_py/decode.py does (same options, same lattices).
"""

import argparse
import sys
from pathlib import Path

from kaldi_kd.errors import run_main

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decode as decode_step  # noqa: E402  (steps_py/decode.py: same stage)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                add_help=True)
    p.add_argument("--model", default="", help="GMM model (default <decode-dir>/../final.mdl)")
    args, rest = p.parse_known_args(argv)
    pos = [a for a in rest if not a.startswith("-")]
    if len(pos) < 3:
        p.print_usage(sys.stderr)
        print("decode_gmm.py: expected <graph-dir> <data-dir> <decode-dir>", file=sys.stderr)
        return 1
    decode_dir = rest[-1]
    model = args.model or str(Path(decode_dir).parent / "final.mdl")
    if not Path(model).is_file():
        print(f"decode_gmm.py: expected file {model} to exist", file=sys.stderr)
        return 1
    return decode_step.main(rest[:-1] + [model, decode_dir])


if __name__ == "__main__":
    sys.exit(run_main(main))
