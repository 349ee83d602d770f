"""Training: config, schedule, outputs, logging of stats keys, exact resume."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from am_toy import make_toy_corpus, toy_transition_model  # noqa: E402

from kaldi_kd.am.data import transition_id_to_pdf
from kaldi_kd.am.model import model_from_config
from kaldi_kd.am.objective import CEObjective
from kaldi_kd.train.checkpoint import load_checkpoint, step_checkpoints
from kaldi_kd.train.config import ConfigError, OptimConfig, TrainConfig, config_from_dict, load_config
from kaldi_kd.train.loop import lr_factor, setup_logging, train
from kaldi_kd.train.setup import prepare_training

torch.set_num_threads(1)

SMALL = ["model.hidden_dim=24", "model.num_layers=3", "model.dropout=0.1", "data.max_frames=250",
         "optim.warmup_steps=3", "log_every=2", "seed=3"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tm = toy_transition_model()
    tid2pdf = transition_id_to_pdf(tm)
    data, ali, _ = make_toy_corpus(tmp_path_factory.mktemp("toy"), tid2pdf, num_utts=20)
    return data, ali, tid2pdf, tm.num_pdfs


def test_config_yaml_and_overrides(tmp_path):
    conf = tmp_path / "am.yaml"
    conf.write_text("model:\n  type: blstm\n  hidden_dim: 64\noptim:\n  lr: 1e-3\nnum_epochs: 3\n")
    cfg = load_config(conf, ["model.num_layers=2", "optim.betas=[0.8, 0.9]", "bf16=false"])
    assert (cfg.model.type, cfg.model.hidden_dim, cfg.model.num_layers) == ("blstm", 64, 2)
    assert cfg.optim.lr == 1e-3 and cfg.optim.betas == [0.8, 0.9] and cfg.bf16 is False
    assert cfg.num_epochs == 3 and cfg.data.max_frames == TrainConfig().data.max_frames
    from dataclasses import asdict
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(asdict(cfg)))) == cfg
    with pytest.raises(ConfigError, match="model.hidden"):
        load_config(None, ["model.hidden=3"])
    with pytest.raises(ConfigError, match="num_epochs"):
        load_config(None, ["num_epochs=abc"])
    conf.write_text("optim:\n  lrr: 1\n")
    with pytest.raises(ConfigError, match="am.yaml"):
        load_config(conf)


def test_lr_schedules():
    cos = OptimConfig(warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    f = [lr_factor(s, cos, 100) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[9:], f[10:])) and f[-1] == pytest.approx(0.1)
    noam = OptimConfig(warmup_steps=10, schedule="noam")
    assert lr_factor(9, noam, 0) == pytest.approx(1.0) and lr_factor(39, noam, 0) == pytest.approx(0.5)


class _Interrupt(Exception):
    pass


class _StopAfter:
    """CEObjective that raises after n calls (a killed job)."""

    def __init__(self, n: int):
        self.n, self.ce = n, CEObjective()

    def __call__(self, model, batch):
        self.n -= 1
        if self.n < 0:
            raise _Interrupt
        return self.ce(model, batch)


def _setup(toy, exp: Path, opts):
    data, ali, tid2pdf, num_pdfs = toy
    cfg = load_config(None, SMALL + opts)
    setup_logging(exp)
    return prepare_training(data, ali, exp, cfg, tid2pdf, num_pdfs), cfg


def test_resume_is_exact(toy, tmp_path):
    opts = ["max_steps=11", "checkpoint_every=3", "data.num_workers=0"]
    s, cfg = _setup(toy, tmp_path / "a", opts)
    assert len(s.train_loader) < 11                     # crosses an epoch boundary
    train(s.model, CEObjective(), s.train_loader, s.valid_loader, cfg, tmp_path / "a")
    ref = load_checkpoint(tmp_path / "a" / "final.pt")["model"]

    s, cfg = _setup(toy, tmp_path / "b", opts)
    with pytest.raises(_Interrupt):                      # killed during step 8
        train(s.model, _StopAfter(7), s.train_loader, s.valid_loader, cfg, tmp_path / "b")
    assert step_checkpoints(tmp_path / "b" / "checkpoints")[-1].name == "step_00000006.pt"
    torch.manual_seed(123)                               # a fresh process: other init, other RNG
    s, cfg = _setup(toy, tmp_path / "b", opts)
    out = train(s.model, CEObjective(), s.train_loader, s.valid_loader, cfg, tmp_path / "b", resume=True)
    assert out["step"] == 11
    got = load_checkpoint(tmp_path / "b" / "final.pt")["model"]
    for k in ref:
        assert torch.equal(ref[k], got[k]), k


class _Extra(nn.Module):
    """An objective with its own (frozen) module and an extra stats key."""

    def __init__(self):
        super().__init__()
        self.teacher = nn.Linear(3, 3)
        self.ce = CEObjective()

    def forward(self, model, batch):
        loss, stats = self.ce(model, batch)
        return loss, dict(stats, kd_fake=0.25)


def test_training_outputs_and_logged_keys(toy, tmp_path):
    exp = tmp_path / "exp"
    s, cfg = _setup(toy, exp, ["num_epochs=6", "checkpoint_every=4", "optim.lr=5e-3"])
    obj = _Extra()
    teacher0 = obj.teacher.weight.detach().clone()
    out = train(s.model, obj, s.train_loader, s.valid_loader, cfg, exp)
    for name in ("config.yaml", "prior_counts", "best.pt", "final.pt", "log/train.log"):
        assert (exp / name).exists(), name
    assert list((exp / "tensorboard").iterdir())
    assert len(step_checkpoints(exp / "checkpoints")) == cfg.keep_checkpoints
    log = (exp / "log" / "train.log").read_text()
    for key in ("loss", "ce", "frame_acc", "kd_fake", "lr", "grad_norm"):
        assert f" {key} " in log, key
    assert "valid: ce" in log
    assert torch.equal(obj.teacher.weight, teacher0)     # only model parameters are optimised
    assert out["valid"]["frame_acc"] > 0.5                # learnable toy data
    best = load_checkpoint(exp / "best.pt")
    m = model_from_config(best["model_config"])
    m.load_state_dict(best["model"])
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    assert saved["model"]["num_pdfs"] == 9 and saved["model"]["input_dim"] == 8


def test_train_am_cli_and_resume(tmp_path):
    import subprocess

    from am_toy import write_toy_final_mdl
    from kaldi_kd.train.setup import load_tid2pdf

    tm = toy_transition_model()
    data, ali, _ = make_toy_corpus(tmp_path, transition_id_to_pdf(tm), num_utts=12)
    write_toy_final_mdl(ali / "final.mdl", tm)
    tid2pdf, num_pdfs = load_tid2pdf(ali)
    assert num_pdfs == 9 and list(tid2pdf) == list(transition_id_to_pdf(tm))
    root = Path(__file__).resolve().parents[1]
    conf = tmp_path / "am.yaml"
    conf.write_text("model:\n  type: tdnnf\n  hidden_dim: 16\n  num_layers: 3\n  bottleneck_dim: 8\n"
                    "num_epochs: 2\ncheckpoint_every: 2\n")
    cmd = [sys.executable, str(root / "steps_py" / "train_am.py"), "--config", str(conf),
           "--opt", "data.max_frames=300", str(data), str(ali), str(tmp_path / "exp")]
    env = dict(__import__("os").environ, PYTHONPATH=str(root))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    exp = tmp_path / "exp"
    assert (exp / "final.mdl").exists() and (exp / "best.pt").exists()
    from kaldi_kd.am.priors import read_prior_counts
    post = read_prior_counts(exp / "post_prior_counts")          # the model's own posterior priors
    assert post.shape == (9,) and (post > 0).all()
    step2 = load_checkpoint(exp / "final.pt")["step"]
    p = subprocess.run(cmd[:2] + ["--resume", "--opt", "num_epochs=3"] + cmd[2:], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "resumed from" in (exp / "log" / "train.log").read_text()
    assert load_checkpoint(exp / "final.pt")["step"] == step2 * 3 // 2
    assert yaml.safe_load((exp / "config.yaml").read_text())["model"]["type"] == "tdnnf"
    p = subprocess.run(cmd[:2] + [str(data), str(tmp_path), str(exp)], capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "final.mdl" in p.stderr
