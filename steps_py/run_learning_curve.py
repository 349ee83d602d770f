#!/usr/bin/env python3
"""The KD learning curve: tune on dev at one size, run the tuned ablation at every size, summarise.

Usage: run_learning_curve.py [options] --config <learning-curve.yaml>
 e.g.: run_learning_curve.py --config conf/learning_curve.yaml --step all
       run_learning_curve.py --config conf/learning_curve.yaml --step summary --partial

Steps (each resumable: finished trainings, forwards, decodes and scores are skipped):
  tune     the grid on dev at tune_size -> <exp-root>/tune/{TUNING.md,chosen.yaml}
  curve    ce / interp / best single aux head / hierarchical at every size, every seed, test
  summary  <exp-root>/{RESULTS.md,curve.png,curve.json}
  all      the three in order
The config's keys are kaldi_kd.kd.learning_curve.LearningCurveConfig fields.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kaldi_kd.errors import require_files, run_main
from kaldi_kd.kd.learning_curve import LearningCurveConfig, run_curve, tune, write_summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML with LearningCurveConfig keys")
    p.add_argument("--step", default="all", choices=["tune", "curve", "summary", "all"])
    p.add_argument("--sizes", default=None, help="curve step: only these sizes (comma list of hours)")
    p.add_argument("--partial", action="store_true", help="summary: include sizes with some seeds missing")
    a = p.parse_args(argv)
    require_files([a.config])
    cfg = LearningCurveConfig.load(a.config)
    root = Path(cfg.exp_root)
    (root / "log").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(root / "log" / "learning_curve.log")])
    cfg.save(root / "learning_curve.yaml")
    if a.step in ("tune", "all"):
        chosen = tune(cfg)
        print(f"run_learning_curve.py: tuned systems {chosen['systems']} -> {root}/tune/TUNING.md")
    if a.step in ("curve", "all"):
        run_curve(cfg, sizes=[float(h) for h in a.sizes.split(",")] if a.sizes else None)
    if a.step in ("summary", "all"):
        md = write_summary(cfg, complete_only=not a.partial)
        print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
