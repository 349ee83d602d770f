"""``kaldi-kd compare DIR...``: argument parsing and entry point (kept import-light)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("decode_dirs", nargs="+", metavar="DIR", help="scored decode dirs (first = baseline)")
    p.add_argument("--replications", type=int, default=1000, help="bootstrap replications")


def main(args: argparse.Namespace) -> int:
    from kaldi_kd.score.compare import compare_systems, format_table

    print(format_table(compare_systems(args.decode_dirs, args.replications)))
    return 0
