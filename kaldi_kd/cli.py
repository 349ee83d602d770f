"""The ``kaldi-kd`` command: toolkit-level subcommands.

Stage scripts live in ``steps_py/``; this command holds what is not a stage:
``kaldi-kd doctor`` checks the installation.  Later subcommands register in
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict, List, Optional

from kaldi_kd.errors import run_main
from kaldi_kd.score import compare_cli


def _doctor(args: argparse.Namespace) -> int:
    from kaldi_kd.kaldi.doctor import run_doctor

    lines, problems = run_doctor()
    print("\n".join(lines))
    if problems:
        print("\nproblems:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("\nall good")
    return 0


# name -> (help, add_arguments, run)
COMMANDS: Dict[str, tuple] = {
    "doctor": ("check the installation: backend, wheels, torch/CUDA, sclite", lambda p: None, _doctor),
    "compare": ("RESULTS-style table of scored decode dirs: WER, 95%% CI, best LMWT/WIP, paired test",
                compare_cli.add_arguments, compare_cli.main),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaldi-kd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """The ``kaldi-kd`` entry point; input errors are one line each (:func:`kaldi_kd.errors.run_main`)."""
    def run() -> int:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command][2](args)

    return run_main(run, prog="kaldi-kd")


if __name__ == "__main__":
    sys.exit(main())
