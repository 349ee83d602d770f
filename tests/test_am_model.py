"""Hybrid AM: shapes/masks/layers per encoder, batching invariance, aux heads, export, overfit."""

from __future__ import annotations

import pytest
import torch

from kaldi_kd.am.data import Batch
from kaldi_kd.am.model import (MODEL_TYPES, HybridModel, ModelConfig, main_state_dict,
                               subsample_targets)
from kaldi_kd.am.objective import CEObjective

torch.set_num_threads(1)


def _model(kind: str, s: int = 1, **kw) -> HybridModel:
    torch.manual_seed(0)
    cfg = dict(type=kind, input_dim=10, num_pdfs=12, hidden_dim=32, num_layers=4, subsampling=s,
               num_heads=4, conv_kernel=5, bottleneck_dim=16, dropout=0.0)
    cfg.update(kw)
    return HybridModel(ModelConfig(**cfg))


@pytest.mark.parametrize("kind", MODEL_TYPES)
@pytest.mark.parametrize("s", [1, 3])
def test_shapes_layers_and_padding(kind, s):
    m = _model(kind, s).eval()
    m.add_aux_head("monophone", 2, 7)
    lengths = torch.tensor([40, 23, 5])
    out = m(torch.randn(3, 40, 10), lengths)
    t_out = -(-40 // s)
    assert out.logits.shape == (3, t_out, 12)
    assert out.lengths.tolist() == [-(-n // s) for n in (40, 23, 5)]
    assert len(out.layers) == m.num_layers == len(m.layer_dims) == 4
    for x, d in zip(out.layers, m.layer_dims):
        assert x.shape == (3, t_out, d)
        for b, n in enumerate(out.lengths.tolist()):      # padded output frames are zero
            assert (x[b, n:] == 0).all()
    assert out.aux_logits["monophone"].shape == (3, t_out, 7)
    assert m.subsampling == s


@pytest.mark.parametrize("kind", MODEL_TYPES)
def test_batched_equals_single(kind):
    m = _model(kind).eval()
    x = torch.randn(2, 30, 10)
    lengths = torch.tensor([30, 17])
    with torch.no_grad():
        both = m(x, lengths).logits
        one = m(x[1:, :17], lengths[1:]).logits
    torch.testing.assert_close(both[1, :17], one[0], atol=1e-4, rtol=1e-4)


def test_aux_head_reads_its_layer():
    m = _model("tdnn").eval()
    head = m.add_aux_head("senone", 3, 5)
    out = m(torch.randn(1, 9, 10), torch.tensor([9]))
    torch.testing.assert_close(out.aux_logits["senone"], head(out.layers[2]))
    with pytest.raises(ValueError, match="layer 5"):
        m.add_aux_head("monophone", 5, 3)
    with pytest.raises(ValueError, match="unknown unit"):
        m.add_aux_head("x", 2, 3)


def test_export_drops_aux_heads_and_keeps_main_outputs():
    m = _model("conformer").eval()
    m.add_aux_head("subword", 4, 20)
    e = m.export()
    assert len(e.aux_heads) == 0 and len(m.aux_heads) == 1
    x, l = torch.randn(2, 11, 10), torch.tensor([11, 8])
    torch.testing.assert_close(e(x, l).logits, m(x, l).logits)
    assert not any(k.startswith("aux_heads.") for k in main_state_dict(m.state_dict()))
    assert e(x, l).aux_logits == {}


def test_tdnnf_semi_orthogonal_constraint():
    m = _model("tdnnf")
    for _ in range(30):
        m.constrain()
    w = m.encoder.layers[1].factor1.weight
    w = w.reshape(w.shape[0], -1)
    p = w @ w.t()
    eye = torch.eye(p.shape[0])
    assert (p / p.diagonal().mean() - eye).abs().max() < 1e-3


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="model.type"):
        HybridModel(ModelConfig(type="rnn"))
    with pytest.raises(ValueError, match="num_heads"):
        HybridModel(ModelConfig(type="conformer", hidden_dim=30, num_heads=4))


def test_subsample_targets():
    t = torch.arange(10)[None]
    assert subsample_targets(t, 3).tolist() == [[0, 3, 6, 9]]


@pytest.mark.parametrize("kind,steps", [("tdnn", 60), ("blstm", 80), ("conformer", 80)])
def test_tiny_batch_overfits(kind, steps):
    m = _model(kind, num_layers=2)
    torch.manual_seed(1)
    feats = torch.randn(2, 25, 10)
    lengths = torch.tensor([25, 18])
    targets = torch.randint(0, 12, (2, 25))
    targets[1, 18:] = -100
    batch = Batch(feats, lengths, targets, ["a", "b"], torch.zeros(2, dtype=torch.long), targets != -100)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    obj = CEObjective()
    loss0, _ = obj(m, batch)
    for _ in range(steps):
        loss, stats = obj(m, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    loss, stats = obj(m, batch)
    assert stats["frame_acc"] == 1.0 and loss.item() < 0.1 < loss0.item()
    assert stats["frames"] == 43
