"""train_am.py with KD options end to end on a tiny Kaldi world: forced alignments, three teachers, hierarchical KD."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from kaldi_kd.data.tables import write_int_vectors, write_table
from kaldi_kd.gmm.model_io import write_model
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.units.spm import SpmConfig, load_spm, train_spm
from kaldi_kd.units.vocab import monophone_vocab
from gmm_fixtures import unit_gaussian_am
from units_tiny import forced_alignment, make_model, write_lang

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [["one", "two", "three"], ["four", "a", "one"], ["two"], ["three", "three", "four", "two"]]


def _load_cli(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "steps_py" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _teacher(exp_dir: Path, vocab_size: int, kind: str) -> None:
    from kaldi_kd.lm.models import UnitLM
    from kaldi_kd.lm.train import LMConfig

    cfg = LMConfig(kind=kind, d_model=16, n_heads=2, n_layers=1, d_ff=32)
    model = UnitLM(vocab_size, cfg.model_config())
    exp_dir.mkdir(parents=True)
    torch.save({"model": model.state_dict(), "vocab_size": vocab_size, "config": dataclasses.asdict(cfg)},
               exp_dir / "teacher.pt")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("kdw")
    lang_dir = write_lang(d / "lang")
    tm, ctx = make_model(triphone=True)
    rng = np.random.default_rng(0)
    dim = 5
    am = unit_gaussian_am(tm.num_pdfs, dim)
    ali_dir, data = d / "ali", d / "data"
    ali_dir.mkdir()
    data.mkdir()
    write_model(ali_dir / "final.mdl", tm, am)
    means = rng.normal(size=(tm.num_pdfs, dim)) * 2
    alis, feats, text = {}, {}, {}
    for i, s in enumerate(SENTENCES * 3):
        utt = f"spk1-u{i:02d}"
        ali = forced_alignment(tm, ctx, s, 12 * len(s) + 14, seed=i)
        pdf = np.array([tm.transition_id_to_pdf(int(t)) for t in ali])
        alis[utt], text[utt] = ali, s
        feats[utt] = (means[pdf] + 0.3 * rng.normal(size=(len(ali), dim))).astype(np.float32)
    utts = sorted(alis)
    write_int_vectors(ali_dir / "ali.1.gz", [(u, alis[u]) for u in utts])
    write_table(data / "feats.ark", [(u, feats[u]) for u in utts], scp=data / "feats.scp")
    x = np.concatenate([feats[u] for u in utts]).astype(np.float64)
    stats = np.zeros((2, dim + 1))
    stats[0, :dim], stats[1, :dim], stats[0, dim] = x.sum(0), (x**2).sum(0), len(x)
    write_table(data / "cmvn.ark", [("spk1", stats)], scp=data / "cmvn.scp")
    (data / "utt2spk").write_text("".join(f"{u} spk1\n" for u in utts))
    (data / "spk2utt").write_text("spk1 " + " ".join(utts) + "\n")
    (data / "text").write_text("".join(f"{u} {' '.join(text[u])}\n" for u in utts))
    words = ["one", "two", "three", "four", "a"]
    (d / "lm.txt").write_text("".join(" ".join(rng.choice(words, rng.integers(1, 6))) + "\n" for _ in range(300)))
    sp_dir = d / "exp" / "lm_subword"
    sp_dir.mkdir(parents=True)
    sp = load_spm(train_spm(d / "lm.txt", sp_dir / "spm.model", SpmConfig(vocab_size=18, model_type="bpe")))
    vocab = {"senone": tm.num_pdfs, "monophone": len(monophone_vocab(Lang(lang_dir))[0]),
             "subword": sp.get_piece_size()}
    for unit, kind in (("senone", "bidir"), ("monophone", "causal")):
        _teacher(d / "exp" / f"lm_{unit}", vocab[unit], kind)
    (sp_dir / "teacher.pt").unlink(missing_ok=True)
    from kaldi_kd.lm.models import UnitLM
    from kaldi_kd.lm.train import LMConfig

    cfg = LMConfig(kind="masked", d_model=16, n_heads=2, n_layers=1, d_ff=32)
    torch.save({"model": UnitLM(vocab["subword"], cfg.model_config()).state_dict(), "vocab_size": vocab["subword"],
                "config": dataclasses.asdict(cfg)}, sp_dir / "teacher.pt")
    return dict(dir=d, lang=lang_dir, ali=ali_dir, data=data, vocab=vocab)


TRAIN_OPTS = ["--opt", "device=cpu", "--opt", "max_steps=6", "--opt", "log_every=2", "--opt", "model.hidden_dim=16",
              "--opt", "model.num_layers=3", "--opt", "model.tdnn_context=[1,1,1]", "--opt", "data.valid_fraction=0.2",
              "--opt", "data.max_frames=400", "--opt", "checkpoint_every=3", "--opt", "bf16=false"]


def test_train_kd_hierarchical_cli(world, tmp_path):
    d = world["dir"]
    exp = tmp_path / "hier"
    cli = _load_cli("train_am")
    args = TRAIN_OPTS + [
        "--lang", str(world["lang"]), "--aux-heads", "monophone@1,senone@2,subword@3", "--kd-tau", "2",
        "--kd-lambda", "subword=0.5", "--interp-alpha", "0.2",
        "--teacher", f"senone={d}/exp/lm_senone", "--teacher", f"monophone={d}/exp/lm_monophone",
        "--teacher", f"subword={d}/exp/lm_subword", str(world["data"]), str(world["ali"]), str(exp),
    ]
    assert cli.main(args) == 0
    final = torch.load(exp / "final.pt", map_location="cpu")
    assert final["model"] and not any(k.startswith("aux_heads.") for k in final["model"])
    assert final["kd"]["aux_heads"] == "monophone@1,senone@2,subword@3"
    ckpts = sorted((exp / "checkpoints").glob("step_*.pt"))
    assert ckpts and any(k.startswith("aux_heads.subword") for k in torch.load(ckpts[-1])["model"])
    log = (exp / "log" / "train.log").read_text()
    for key in ("kl_monophone", "kd_senone", "kl_subword", "interp_ce", "ce "):
        assert key in log, key
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(exp / "tensorboard")).Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/kl_monophone", "train/kd_senone", "train/kl_subword", "train/interp_ce"} <= tags, tags
    from kaldi_kd.kd.config import KDConfig

    kd = KDConfig.load(exp)
    assert kd.lam("subword") == 0.5 and kd.tau("senone") == 2.0 and kd.interp_alpha == 0.2
    # the exported model loads into a plain HybridModel and decodes with the main head only
    from kaldi_kd.am.model import model_from_config

    m = model_from_config(final["model_config"])
    m.load_state_dict(final["model"])
    assert len(m.aux_heads) == 0

    # the same command + --resume continues from the checkpoint (heads re-added before restore)
    assert cli.main(["--resume"] + args[:-3] + ["--opt", "max_steps=8"] + args[-3:]) == 0
    assert torch.load(exp / "final.pt")["step"] == 8


def test_train_kd_from_units_dir_checks_teacher_vocab(world, tmp_path):
    import os
    import subprocess
    import sys

    d = world["dir"]
    units = tmp_path / "units"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, str(ROOT / "steps_py" / "ali_to_units.py"), "--levels", "senone,monophone",
                    str(world["data"]), str(world["lang"]), str(world["ali"]), str(units)], check=True, env=env,
                   capture_output=True)
    cli = _load_cli("train_am")
    exp = tmp_path / "mono"
    args = TRAIN_OPTS + ["--units-dir", str(units), "--aux-heads", "monophone@2", "--teacher",
                         f"monophone={d}/exp/lm_monophone", str(world["data"]), str(world["ali"]), str(exp)]
    assert cli.main(args) == 0
    assert "unit segments from" in (exp / "log" / "train.log").read_text()
    # a teacher whose vocabulary is not the segments' is refused, naming both
    with pytest.raises(Exception, match="has 12 units but the senone segments use"):
        cli.main(TRAIN_OPTS + ["--units-dir", str(units), "--aux-heads", "senone@2", "--teacher",
                               f"senone={d}/exp/lm_monophone", str(world["data"]), str(world["ali"]),
                               str(tmp_path / "bad")])


def test_train_kd_without_kd_options_is_ce(world, tmp_path):
    cli = _load_cli("train_am")
    exp = tmp_path / "ce"
    assert cli.main(TRAIN_OPTS + [str(world["data"]), str(world["ali"]), str(exp)]) == 0
    log = (exp / "log" / "train.log").read_text()
    assert "plain CE training" in log and "kl_" not in log


def test_train_kd_names_missing_teacher(world, tmp_path):
    cli = _load_cli("train_am")
    from kaldi_kd.errors import MissingFileError

    with pytest.raises(MissingFileError, match="lm_nothing/teacher.pt"):
        cli.main(["--aux-heads", "senone@2", "--teacher", f"senone={tmp_path}/lm_nothing",
                  str(world["data"]), str(world["ali"]), str(tmp_path / "x")])


@pytest.fixture(scope="module")
def hf_models(world):
    """A tiny causal (GPT-2) and masked (BERT) LM with tokenizers trained on the world's LM text."""
    pytest.importorskip("transformers")
    from hf_tiny import bpe_tokenizer, save_bert, save_gpt2, wordpiece_tokenizer

    lines = (world["dir"] / "lm.txt").read_text().splitlines()
    d = world["dir"] / "hf"
    return {"causal": save_gpt2(d / "gpt2", bpe_tokenizer(lines)),
            "masked": save_bert(d / "bert", wordpiece_tokenizer(lines, vocab_size=60))}


@pytest.mark.parametrize("kind", ["causal", "masked"])
def test_train_kd_with_a_local_hf_teacher(world, hf_models, tmp_path, kind):
    cli = _load_cli("train_am")
    exp = tmp_path / kind
    cache = tmp_path / "cache"
    args = TRAIN_OPTS + ["--lang", str(world["lang"]), "--aux-heads", "subword@3", "--kd-tau", "2",
                         "--teacher", f"subword=hf:{hf_models[kind]}", "--hf-cache", str(cache),
                         str(world["data"]), str(world["ali"]), str(exp)]
    assert cli.main(args) == 0
    final = torch.load(exp / "final.pt", map_location="cpu")
    assert not any(k.startswith("aux_heads.") for k in final["model"])
    ckpt = torch.load(sorted((exp / "checkpoints").glob("step_*.pt"))[-1], map_location="cpu")["model"]
    head_units = (exp / "subword_head_units.txt").read_text().splitlines()
    assert ckpt["aux_heads.subword.net.weight"].shape[0] == len(head_units) > 0
    log = (exp / "log" / "train.log").read_text()
    assert f"{kind} " in log and "kl_subword" in log and "0 of 12 utterances cached" in log
    from kaldi_kd.kd.config import KDConfig

    kd = KDConfig.load(exp)
    assert kd.teachers["subword"] == f"hf:{hf_models[kind]}" and kd.unit_top_k("subword") == 8
    assert list(cache.glob("*/part-0-*.pt")) and list(cache.glob("*/meta.json"))
    # kl values are logged: the KD loss trained on real targets
    kls = [float(line.split("kl_subword ")[1].split()[0]) for line in log.splitlines() if "kl_subword " in line]
    assert kls and all(np.isfinite(kls)) and kls[0] > 0


def test_train_kd_hf_teacher_from_word_units_reuses_the_cache(world, hf_models, tmp_path):
    import os
    import subprocess
    import sys

    units = tmp_path / "units"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, str(ROOT / "steps_py" / "ali_to_units.py"), "--levels", "word",
                    str(world["data"]), str(world["lang"]), str(world["ali"]), str(units)], check=True, env=env,
                   capture_output=True)
    assert (units / "word" / "units.txt").read_text().startswith("<sil> 0\n")
    cli = _load_cli("train_am")
    for name in ("sys1", "sys2"):  # two systems on the same alignments: the second reuses the cache
        args = TRAIN_OPTS + ["--units-dir", str(units), "--aux-heads", "subword@2", "--opt", "max_steps=2",
                             "--teacher", f"subword=hf:{hf_models['causal']}", str(world["data"]),
                             str(world["ali"]), str(tmp_path / name)]
        assert cli.main(args) == 0
    log = (tmp_path / "sys2" / "log" / "train.log").read_text()
    assert "12 of 12 utterances cached, 0 to compute" in log
    assert str(world["ali"] / "hf_targets") in log  # the default cache: <ali-dir>/hf_targets
