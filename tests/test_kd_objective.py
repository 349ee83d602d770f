"""KD config/CLI options and setup_kd with real teachers (tiny UnitLMs), engines and HybridModel."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from kaldi_kd.am.data import Batch
from kaldi_kd.am.model import HybridModel, ModelConfig
from kaldi_kd.kd.build import setup_kd
from kaldi_kd.kd.config import KDConfig, KDConfigError, add_kd_arguments, kd_config_from_args
from kaldi_kd.lm.models import ModelConfig as LMModelConfig
from kaldi_kd.lm.models import UnitLM
from kaldi_kd.units.segments import from_frames

torch.set_num_threads(1)

VOCAB = {"senone": 12, "monophone": 5, "subword": 7}


def _parse(argv):
    return kd_config_from_args(add_kd_arguments(argparse.ArgumentParser()).parse_args(argv))


def test_cli_options_to_config_and_yaml(tmp_path):
    cfg = _parse(["--aux-heads", "monophone@1,senone@2", "--kd-lambda", "senone=0.5", "--kd-lambda", "0.2",
                  "--kd-tau", "2", "--teacher", "senone=exp/lm_senone", "--teacher", "monophone=exp/lm_monophone",
                  "--kd-top-k", "4"])
    assert cfg.lam("senone") == 0.5 and cfg.lam("monophone") == 0.2
    assert cfg.tau("senone") == 2.0 and cfg.top_k == 4
    assert cfg.needed_units() == ["monophone", "senone"]
    path = cfg.save(tmp_path)
    assert path.name == "kd.yaml" and KDConfig.load(tmp_path) == cfg
    # label-interpolation baseline: no aux head, senone teacher
    interp = _parse(["--interp-alpha", "0.3", "--teacher", "senone=exp/lm_senone"])
    assert interp.specs == [] and interp.needed_units() == ["senone"]
    assert not _parse([]).enabled


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--aux-heads", "senone@2"], "needs a senone teacher"),
        (["--interp-alpha", "0.5"], "needs a senone teacher"),
        (["--interp-alpha", "1.5", "--teacher", "senone=x"], r"\[0, 1\]"),
        (["--aux-heads", "senone@2", "--teacher", "senone=x", "--kd-lambda", "subword=1"], "no subword head"),
        (["--teacher", "phone=x"], "unknown unit 'phone'"),
        (["--aux-heads", "senone@2", "--teacher", "senone=x", "--kd-tau", "senone=abc"], "cannot read"),
    ],
)
def test_config_errors(argv, message):
    with pytest.raises(KDConfigError, match=message):
        _parse(argv)


def _data(num_utts=4, T=20, F=6, num_pdfs=12, seed=0):
    rng = np.random.default_rng(seed)
    utts = [f"u{i}" for i in range(num_utts)]
    feats = {u: rng.standard_normal((T, F)).astype(np.float32) for u in utts}
    segments = {}
    for unit, V in VOCAB.items():
        # piecewise-constant unit sequences with runs of 2..5 frames
        segments[unit] = {}
        for u in utts:
            frames = np.repeat(rng.integers(0, V, size=T), rng.integers(2, 6, size=T))[:T]
            segments[unit][u] = from_frames(frames)
    align = {u: segments["senone"][u].to_frames() for u in utts}
    return utts, feats, align, segments


def _batch(utts, feats, align):
    x = torch.from_numpy(np.stack([feats[u] for u in utts]))
    y = torch.from_numpy(np.stack([align[u] for u in utts]).astype(np.int64))
    B, T = y.shape
    return Batch(x, torch.full((B,), T), y, list(utts), torch.zeros(B, dtype=torch.long),
                 torch.ones(B, T, dtype=torch.bool))


def _loader(exp_dir, device):
    unit = exp_dir.split("_")[-1]
    torch.manual_seed(len(unit))
    return UnitLM(VOCAB[unit], LMModelConfig(kind="bidir", d_model=16, n_heads=2, n_layers=1, d_ff=32)).eval()


def test_setup_kd_hierarchical_trains_and_logs_every_head():
    torch.manual_seed(0)
    utts, feats, align, segments = _data()
    model = HybridModel(ModelConfig(type="tdnn", input_dim=6, num_pdfs=12, hidden_dim=16, num_layers=3, dropout=0.0))
    cfg = KDConfig(aux_heads="monophone@1,senone@2,subword@3", kd_tau={"senone": 2.0}, interp_alpha=0.2,
                   teachers={u: f"exp/lm_{u}" for u in VOCAB})
    objective = setup_kd(cfg, model, segments, loader=_loader)
    assert set(model.aux_heads) == set(VOCAB)
    assert model.aux_heads["subword"].layer == 3
    batch = _batch(utts, feats, align)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss, stats = objective(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or stats
    for unit in VOCAB:
        assert stats[f"kl_{unit}"] < first[f"kl_{unit}"], unit
        assert stats[f"kd_{unit}"] == pytest.approx(cfg.tau(unit) ** 2 * stats[f"kl_{unit}"], rel=1e-5)
    assert "interp_ce" in stats and stats["loss"] < first["loss"]
    assert not any("aux_heads" in n for n, _ in model.export().named_parameters())


def test_setup_kd_rejects_mismatched_senone_vocab_and_bad_layer():
    utts, feats, align, segments = _data()
    model = HybridModel(ModelConfig(type="tdnn", input_dim=6, num_pdfs=30, hidden_dim=16, num_layers=3))
    cfg = KDConfig(interp_alpha=0.2, teachers={"senone": "exp/lm_senone"})
    with pytest.raises(KDConfigError, match="12 units but the model has 30 pdfs"):
        setup_kd(cfg, model, segments, loader=_loader)
    cfg = KDConfig(aux_heads="subword@4", teachers={"subword": "exp/lm_subword"})
    with pytest.raises(ValueError, match="out of range"):
        setup_kd(cfg, model, segments, loader=_loader)


@pytest.mark.parametrize("top_k", [None, 3])
def test_partial_engine_rows_without_segments_get_no_targets(top_k):
    from kaldi_kd.kd.segments import PartialEngine
    from kaldi_kd.kd.soft_targets import SoftTargetEngine

    utts, feats, align, segments = _data()
    full = SoftTargetEngine(_loader("exp/lm_monophone", "cpu"), segments["monophone"], tau=2.0, top_k=top_k)
    part = PartialEngine(SoftTargetEngine(full.teacher, {u: s for u, s in segments["monophone"].items() if u != "u1"},
                                          tau=2.0, top_k=top_k))
    starts, lengths = torch.tensor([0, 0, 3]), torch.tensor([20, 20, 15])
    a = full.targets(["u0", "u1", "u2"], starts, 20, "cpu", lengths=lengths)
    b = part.targets(["u0", "u1", "u2"], starts, 20, "cpu", lengths=lengths)
    assert not b.mask[1].any() and torch.equal(b.mask[[0, 2]], a.mask[[0, 2]])
    got = b.probs if top_k is None else b.topk_values
    want = a.probs if top_k is None else a.topk_values
    assert torch.allclose(got[[0, 2]], want[[0, 2]], atol=1e-6) and torch.all(got[1] == 0)
