"""Auxiliary heads: spec parsing, registration, gradient flow, export, the KD objective."""

from __future__ import annotations

import pytest
import torch

from kaldi_kd.am.heads import (
    AuxHeadSpec,
    AuxHeadSpecError,
    add_aux_heads,
    format_aux_heads,
    head_specs,
    parse_aux_heads,
)
from kaldi_kd.kd.losses import kd_loss
from kaldi_kd.kd.objective import KDObjective
from kd_fakes import TableEngine, layer_prefix, make_batch, make_model, make_soft_targets

torch.set_num_threads(1)


def test_parse_spec_round_trip():
    specs = parse_aux_heads("monophone@2,senone@4,subword@6:32")
    assert specs == [AuxHeadSpec("monophone", 2), AuxHeadSpec("senone", 4), AuxHeadSpec("subword", 6, 32)]
    assert format_aux_heads(specs) == "monophone@2,senone@4,subword@6:32"
    assert parse_aux_heads("") == [] and parse_aux_heads("none") == []


@pytest.mark.parametrize(
    "spec, message",
    [
        ("phone@2", "unknown unit 'phone'"),
        ("senone", "expected unit@layer"),
        ("senone@x", "layer 'x' is not an integer"),
        ("senone@0", "1-based"),
        ("senone@2,senone@3", "given twice"),
        ("senone@7", "out of range"),
    ],
)
def test_parse_spec_errors(spec, message):
    with pytest.raises(AuxHeadSpecError, match=message):
        parse_aux_heads(spec, num_layers=6)


def test_add_aux_heads_shapes_and_errors():
    model = make_model(num_layers=4)
    add_aux_heads(model, parse_aux_heads("monophone@1,senone@3:16"), {"monophone": 7, "senone": 9})
    assert set(model.aux_heads) == {"monophone", "senone"}
    assert [str(s) for s in head_specs(model)] == ["monophone@1", "senone@3:16"]
    batch = make_batch()
    out = model(batch.feats, batch.lengths)
    assert out.aux_logits["monophone"].shape == (*out.logits.shape[:2], 7)
    assert out.aux_logits["senone"].shape == (*out.logits.shape[:2], 9)
    with pytest.raises(AuxHeadSpecError, match="out of range"):
        add_aux_heads(make_model(num_layers=4), [AuxHeadSpec("subword", 5)], {"subword": 3})
    with pytest.raises(AuxHeadSpecError, match="already has"):
        add_aux_heads(model, [AuxHeadSpec("senone", 2)], {"senone": 9})
    with pytest.raises(AuxHeadSpecError, match="no vocabulary"):
        add_aux_heads(model, [AuxHeadSpec("subword", 2)], {})


def _grad_norms(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: (0.0 if p.grad is None else float(p.grad.abs().sum())) for n, p in model.named_parameters()}


def _layer_params(model, i):
    """Parameter names of encoder layer i (1-based)."""
    return [n for n, _ in model.named_parameters() if n.startswith(layer_prefix(i))]


def test_aux_loss_gradient_reaches_only_layers_below_its_attachment():
    torch.manual_seed(0)
    model = make_model(num_layers=4)
    add_aux_heads(model, [AuxHeadSpec("senone", 2)], {"senone": 5})
    batch = make_batch()
    out = model(batch.feats, batch.lengths)
    q = torch.softmax(torch.randn(*out.logits.shape[:2], 5), -1)
    loss = kd_loss(out.aux_logits["senone"], make_soft_targets(q, batch.mask), 2.0, batch.mask)
    grads = _grad_norms(model, loss)
    for i in (1, 2, 3, 4):
        assert _layer_params(model, i), f"no parameters found for layer {i}"
    for i in (1, 2):
        assert any(grads[n] > 0 for n in _layer_params(model, i)), f"layer {i} got no gradient"
    for i in (3, 4):
        assert all(grads[n] == 0 for n in _layer_params(model, i)), f"layer {i} above the head got gradient"
    assert all(g == 0 for n, g in grads.items() if n.startswith("head."))
    assert any(g > 0 for n, g in grads.items() if n.startswith("aux_heads.senone."))


def test_export_drops_aux_parameters():
    model = make_model(num_layers=4)
    add_aux_heads(model, parse_aux_heads("monophone@2,senone@4"), {"monophone": 7, "senone": 9})
    exported = model.export()
    assert not any("aux_heads" in n for n, _ in exported.named_parameters())
    assert len(model.aux_heads) == 2  # the training model keeps its heads
    n_main = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux_heads."))
    assert sum(p.numel() for p in exported.parameters()) == n_main
    batch = make_batch()
    model.eval()
    assert torch.allclose(exported(batch.feats, batch.lengths).logits, model(batch.feats, batch.lengths).logits)


def _engines(batch, T_out, vocab):
    g = torch.Generator().manual_seed(1)
    return {
        u: TableEngine({utt: torch.softmax(torch.randn(40, V, generator=g), -1) for utt in batch.utt_ids})
        for u, V in vocab.items()
    }


def test_objective_with_zero_weights_is_exactly_ce():
    from kaldi_kd.am.objective import CEObjective

    torch.manual_seed(0)
    model = make_model(num_layers=4, num_pdfs=9)
    vocab = {"monophone": 7, "senone": 9, "subword": 5}
    add_aux_heads(model, parse_aux_heads("monophone@1,senone@2,subword@3"), vocab)
    batch = make_batch(num_pdfs=9)
    engines = _engines(batch, None, vocab)
    model.eval()
    ref, ref_stats = CEObjective()(model, batch)
    obj = KDObjective(engines, lambdas={u: 0.0 for u in vocab}, interp_alpha=0.0)
    loss, stats = obj(model, batch)
    assert torch.equal(loss, ref)
    assert stats["ce"] == ref_stats["ce"] and stats["frame_acc"] == ref_stats["frame_acc"]
    # alpha = 0 through the interpolation path as well
    assert torch.equal(KDObjective(engines, {u: 0.0 for u in vocab}, interp_alpha=0.0)(model, batch)[0], ref)
    assert {"loss", "ce", "kd_monophone", "kl_monophone", "kd_senone", "kl_senone", "kd_subword"} <= set(stats)
    assert stats["kl_senone"] > 0
    # positive weights add exactly sum_u lambda_u * tau_u^2 * KL_u
    lambdas, taus = {"monophone": 0.5, "senone": 1.0, "subword": 2.0}, {"monophone": 1.0, "senone": 2.0, "subword": 1.0}
    loss2, stats2 = KDObjective(engines, lambdas, taus)(model, batch)
    expected = stats2["ce"] + sum(lambdas[u] * taus[u] ** 2 * stats2[f"kl_{u}"] for u in vocab)
    assert loss2.item() == pytest.approx(expected, rel=1e-5)
    # interpolation changes the main loss and reports it
    loss3, stats3 = KDObjective({"senone": engines["senone"]}, interp_alpha=0.5)(make_model_no_aux(model), batch)
    assert "interp_ce" in stats3 and loss3.item() != pytest.approx(stats3["ce"])


def make_model_no_aux(model):
    return model.export()
