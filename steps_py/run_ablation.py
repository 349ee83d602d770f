#!/usr/bin/env python3
"""Run (or resume) the KD ablation and write RESULTS.md + wer.png.

Systems: ce, interp, aux_senone, aux_monophone, aux_subword, hierarchical, each with
every seed; each trains into <exp-root>/<system>_seed<s>/ (skipped when final.pt
exists), then forward, decode and score (each skipped when its output exists).

Usage: run_ablation.py [options] <out-dir>
 e.g.: run_ablation.py --config conf/kd_ablation.yaml --seeds 1,2,3 exp/kd/ablation
       run_ablation.py --collect-only --systems ce,hierarchical exp/kd/ablation
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.errors import require_files, run_main
from kaldi_kd.kd.ablation import AblationConfig, run_ablation


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults: AblationConfig, then the --config YAML, then these)
    p.add_argument("--config", default=None, help="YAML with AblationConfig keys")
    p.add_argument("--systems", default=None, help="comma list, e.g. ce,interp,hierarchical")
    p.add_argument("--seeds", default=None, help="comma list of training seeds, e.g. 1,2,3")
    p.add_argument("--exp-root", default=None, help="where <system>_seed<s> dirs go")
    p.add_argument("--train-args", default=None, help="extra options for train_am.py (quoted)")
    p.add_argument("--collect-only", action="store_true", help="only build the table from existing decode dirs")
    p.add_argument("out_dir", help="where RESULTS.md, wer.png, ablation.yaml and log/ go")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    out_dir = Path(args.out_dir)
    (out_dir / "log").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(out_dir / "log" / "ablation.log")])
    overrides = dict(
        systems=args.systems.split(",") if args.systems else None,
        seeds=[int(s) for s in args.seeds.split(",")] if args.seeds else None,
        exp_root=args.exp_root,
        train_args=args.train_args,
    )
    if args.config:
        require_files([args.config])
        cfg = AblationConfig.load(args.config, **overrides)
    else:
        cfg = AblationConfig(**{k: v for k, v in overrides.items() if v is not None}).validate()
    md = run_ablation(cfg, out_dir, skip_run=args.collect_only)
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
