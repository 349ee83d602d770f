#!/usr/bin/env python3
"""Train a hybrid acoustic model (TDNN / BLSTM / Conformer) with frame cross-entropy.

Usage:
    train_am.py [options] <train-data-dir> <ali-dir> <exp-dir>
e.g.:
    train_am.py --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn

<ali-dir> holds final.mdl and ali.*.gz (transition-ids).  Writes to <exp-dir>:
config.yaml, prior_counts, final.mdl, tree, checkpoints/step_*.pt, best.pt, final.pt,
log/train.log, tensorboard/.

Distributed (one process per GPU; backend nccl, gloo on CPU):
    torchrun --standalone --nproc_per_node=4 steps_py/train_am.py \\
        --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \\
        --rdzv_endpoint=host0:29400 steps_py/train_am.py ... (same arguments on every node)
Resume after a crash or kill (exactly: weights, optimiser, schedule, RNGs, sampler):
    train_am.py --resume --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from kaldi_kd.train.config import apply_overrides, config_from_dict, load_config
from kaldi_kd.train.loop import init_distributed, resolve_device, setup_logging
from kaldi_kd.train.setup import prepare_training, run_ce_training


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] <train-data-dir> <ali-dir> <exp-dir>\n"
              "e.g.: %(prog)s --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn")
    # options with defaults, in one block
    p.add_argument("--config", default=None, help="YAML TrainConfig (default: built-in defaults)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest <exp-dir>/checkpoints/step_*.pt, with <exp-dir>/config.yaml")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --opt model.hidden_dim=128 (repeatable)")
    p.add_argument("data_dir", metavar="<train-data-dir>")
    p.add_argument("ali_dir", metavar="<ali-dir>")
    p.add_argument("exp_dir", metavar="<exp-dir>")
    return p


def check_inputs(data_dir: Path, ali_dir: Path) -> None:
    for f in (data_dir / "feats.scp", ali_dir / "final.mdl"):
        if not f.exists():
            sys.exit(f"train_am.py: expected file {f} to exist")
    if not list(ali_dir.glob("ali.*.gz")):
        sys.exit(f"train_am.py: expected files {ali_dir}/ali.*.gz to exist")


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    data_dir, ali_dir, exp_dir = Path(args.data_dir), Path(args.ali_dir), Path(args.exp_dir)
    check_inputs(data_dir, ali_dir)
    saved = exp_dir / "config.yaml"
    if args.resume and saved.exists():
        cfg = config_from_dict(yaml.safe_load(saved.read_text()))
        cfg = apply_overrides(cfg, args.opt)
    else:
        cfg = load_config(args.config, args.opt)
    dev = resolve_device(cfg.device)
    rank, world, local = init_distributed(dev.type)
    setup_logging(exp_dir, rank)
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kaldi_kd").info("%s", " ".join(sys.argv))
    setup = prepare_training(data_dir, ali_dir, exp_dir, cfg)
    summary = run_ce_training(setup, cfg, exp_dir, resume=args.resume)
    if rank == 0:
        print(f"train_am.py: {summary['step']} steps, best valid CE {summary['best_valid_ce']:.4f}; "
              f"models in {exp_dir}/best.pt, {exp_dir}/final.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
