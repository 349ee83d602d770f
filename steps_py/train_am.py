#!/usr/bin/env python3
"""Train a hybrid acoustic model (TDNN / BLSTM / Conformer): frame CE, optionally with KD.

Usage:
    train_am.py [options] <train-data-dir> <ali-dir> <exp-dir>
e.g.:
    train_am.py --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn

<ali-dir> holds final.mdl and ali.*.gz (transition-ids).  Writes to <exp-dir>:
config.yaml, prior_counts, post_prior_counts (prior_utts > 0), final.mdl, tree, checkpoints/step_*.pt, best.pt, final.pt,
log/train.log, tensorboard/.

Knowledge distillation from frozen LM teachers (kaldi_kd.kd; the same setup and loop):
auxiliary heads (unit@layer), their weights and temperatures, teachers, and label
interpolation. With any of --aux-heads, --interp-alpha or --teacher it also writes kd.yaml
next to config.yaml; final.pt/best.pt hold no auxiliary parameters.
    # hierarchical KD: three teachers, heads at layers 2, 4, 6
    train_am.py --config conf/am_tdnn.yaml --units-dir exp/tri1_ali/units \\
        --aux-heads monophone@2,senone@4,subword@6 --kd-lambda 1.0 --kd-tau 2.0 \\
        --teacher monophone=exp/lm_monophone --teacher senone=exp/lm_senone \\
        --teacher subword=exp/lm_subword data/train exp/tri1_ali exp/tdnn_hier
    # a local Hugging Face LM as the subword teacher (word spans from <ali-dir>/units/word or --lang)
    train_am.py --config conf/am_tdnn.yaml --lang data/lang --aux-heads subword@4 --kd-tau 2 \\
        --teacher subword=hf:/models/gpt2 --hf-case sentence data/train exp/tri1_ali exp/tdnn_gpt2
    # label-interpolation baseline
    train_am.py --config conf/am_tdnn.yaml --interp-alpha 0.3 --teacher senone=exp/lm_senone \\
        data/train exp/tri1_ali exp/tdnn_interp

Distributed (one process per GPU; backend nccl, gloo on CPU):
    torchrun --standalone --nproc_per_node=4 steps_py/train_am.py \\
        --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \\
        --rdzv_endpoint=host0:29400 steps_py/train_am.py ... (same arguments on every node)
Resume after a crash or kill (exactly: weights, optimiser, schedule, RNGs, sampler; the
saved config.yaml and kd.yaml are used):
    train_am.py --resume --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path

import yaml

from kaldi_kd.am.heads import check_layers
from kaldi_kd.errors import MissingFileError, require_files, run_main
from kaldi_kd.kd.config import KD_CONFIG_NAME, KDConfig, add_kd_arguments, kd_config_from_args
from kaldi_kd.lm.hf_options import hf_model_dir, is_hf_spec
from kaldi_kd.units.vocab import WORD_LEVEL
from kaldi_kd.train.config import apply_overrides, config_from_dict, load_config
from kaldi_kd.train.loop import init_distributed, resolve_device, setup_logging
from kaldi_kd.train.setup import prepare_training, run_ce_training


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] <train-data-dir> <ali-dir> <exp-dir>\n"
              "e.g.: %(prog)s --config conf/am_tdnn.yaml data/train exp/tri1_ali exp/tdnn")
    # options with defaults, in one block (KD options: kaldi_kd.kd.config.add_kd_arguments)
    p.add_argument("--config", default=None, help="YAML TrainConfig (default: built-in defaults)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest <exp-dir>/checkpoints/step_*.pt, with <exp-dir>/config.yaml "
                        "(and kd.yaml)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --opt model.hidden_dim=128 (repeatable)")
    p.add_argument("--units-dir", default=None,
                   help="KD: unit segments from ali_to_units.py (default: <ali-dir>/units when it exists)")
    p.add_argument("--lang", default=None, help="KD: lang dir (to compute segments when there is no units dir; "
                                                "an hf teacher needs it unless the units dir has a 'word' level)")
    p.add_argument("--spm-model", default=None,
                   help="KD: sentencepiece model (subword segments without a units dir; "
                        "default <subword-teacher>/spm.model)")
    add_kd_arguments(p)
    p.add_argument("data_dir", metavar="<train-data-dir>")
    p.add_argument("ali_dir", metavar="<ali-dir>")
    p.add_argument("exp_dir", metavar="<exp-dir>")
    return p


def teacher_file(spec: str) -> Path:
    """The file a teacher spec needs: ``<exp>/teacher.pt``, or ``<dir>/config.json`` for ``hf:<dir>``."""
    if is_hf_spec(spec):
        return hf_model_dir(spec) / "config.json"
    return Path(spec) / "teacher.pt"


def check_inputs(data_dir: Path, ali_dir: Path, kd: KDConfig) -> None:
    require_files([data_dir / "feats.scp", ali_dir / "final.mdl"], "is the previous stage done?")
    require_files([teacher_file(spec) for spec in kd.teachers.values()], "run steps_py/train_lm.py first")
    if not list(ali_dir.glob("ali.*.gz")):
        raise MissingFileError(f"{ali_dir}/ali.*.gz", "run steps_py/align_si.py first")


def load_kd_config(args: argparse.Namespace, exp_dir: Path) -> KDConfig:
    """The saved ``kd.yaml`` when resuming a KD run, else the KD options (all off by default).

    An hf teacher's soft-target cache defaults to ``<ali-dir>/hf_targets`` (shared by every
    system trained on those alignments).
    """
    saved_kd = exp_dir / KD_CONFIG_NAME
    if args.resume and saved_kd.exists():
        return KDConfig.load(saved_kd).validate()
    kd = kd_config_from_args(args)
    if kd.hf_units() and "cache" not in kd.hf:
        kd.hf["cache"] = str(Path(args.ali_dir) / "hf_targets")
    return kd


def load_segments(args: argparse.Namespace, kd: KDConfig):
    """(unit -> utt -> Segments, unit -> vocabulary size) for the units the config needs."""
    from kaldi_kd.kd.segments import find_spm_model, training_segments

    units = kd.needed_units()
    hf = set(kd.hf_units()) & set(units)  # these teachers tokenise the aligned words themselves
    levels = [WORD_LEVEL if u in hf else u for u in units]
    units_dir = args.units_dir or Path(args.ali_dir) / "units"
    spm = args.spm_model
    if spm is None and "subword" in levels and args.lang:
        spm = find_spm_model(kd.teachers["subword"])
    segs, sizes = training_segments(levels, args.ali_dir, units_dir, args.lang, args.data_dir, spm)
    for u in hf:
        segs[u] = segs.pop(WORD_LEVEL)
        sizes.pop(WORD_LEVEL, None)
    return segs, sizes


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    data_dir, ali_dir, exp_dir = Path(args.data_dir), Path(args.ali_dir), Path(args.exp_dir)
    kd = load_kd_config(args, exp_dir)
    use_kd = kd.enabled or bool(kd.teachers)
    check_inputs(data_dir, ali_dir, kd)
    saved = exp_dir / "config.yaml"
    resumed_model = None
    if args.resume and saved.exists():
        cfg = config_from_dict(yaml.safe_load(saved.read_text()), source=str(saved))
        cfg = apply_overrides(cfg, args.opt)
        resumed_model = copy.deepcopy(cfg.model)
    else:
        cfg = load_config(args.config, args.opt)
    if kd.enabled:                    # before anything is written: heads must fit the encoder
        check_layers(kd.specs, cfg.model.num_layers)
    dev = resolve_device(cfg.device)
    rank, _, _ = init_distributed(dev.type)
    setup_logging(exp_dir, rank)
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    log = logging.getLogger("kaldi_kd")
    log.info("%s", " ".join(sys.argv))
    segments, sizes = load_segments(args, kd) if kd.enabled else ({}, {})
    setup = prepare_training(data_dir, ali_dir, exp_dir, cfg, expect_model=resumed_model,
                             expect_source=str(saved))
    if use_kd:
        from kaldi_kd.kd.train import run_kd_training

        summary = run_kd_training(setup, cfg, kd, exp_dir, segments, resume=args.resume, vocab_sizes=sizes)
    else:
        log.info("no auxiliary heads, interp_alpha 0, no teachers: plain CE training")
        summary = run_ce_training(setup, cfg, exp_dir, resume=args.resume)
    if rank == 0 and cfg.prior_utts > 0:
        from kaldi_kd.am.forward import write_posterior_priors

        write_posterior_priors(data_dir, exp_dir, cfg.prior_utts, device=str(dev))
    if rank == 0:
        print(f"train_am.py: {summary['step']} steps, best valid CE {summary['best_valid_ce']:.4f}; "
              f"models in {exp_dir}/best.pt, {exp_dir}/final.pt" + (" (no auxiliary heads)" if use_kd else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
