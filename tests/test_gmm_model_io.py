"""final.mdl and tree files: Kaldi formats, round trips, text and binary."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.event_map import ConstantMap, SplitMap, TableMap, Tree
from kaldi_kd.gmm.serial import KaldiFormatError
from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

from gmm_fixtures import make_mono


def _same_tm(a, b, exact=True):
    sa, sb = a.__getstate__(), b.__getstate__()
    assert str(a) == str(b)
    for i in (2, 3, 4, 5):
        assert sa[i] == sb[i]
    if exact:
        np.testing.assert_array_equal(np.array(sa[6]), np.array(sb[6]))
    else:
        np.testing.assert_allclose(np.array(sa[6]), np.array(sb[6]), rtol=1e-5)
    np.testing.assert_allclose(np.array(sa[7]), np.array(sb[7]), rtol=1e-5, atol=1e-6)


def _same_am(a, b, rtol=0.0):
    assert a.num_pdfs == b.num_pdfs and a.dim == b.dim
    for x, y in zip(a.__getstate__(), b.__getstate__()):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * 1e-3)


def test_model_binary_roundtrip_bytes_equal(tmp_path):
    _, _, tm, am = make_mono()
    p1, p2 = tmp_path / "a.mdl", tmp_path / "b.mdl"
    model_io.write_model(p1, tm, am)
    data = p1.read_bytes()
    assert data.startswith(b"\0B<TransitionModel> <Topology> ")
    assert b"<Triples> " in data and b"<DIMENSION> " in data and b"</DiagGMM> " in data
    tm2, am2 = model_io.read_model(p1)
    model_io.write_model(p2, tm2, am2)
    assert p2.read_bytes() == data
    _same_tm(tm, tm2)
    _same_am(am, am2)
    # derived tables rebuilt as the wheel computes them
    assert tm2.num_transition_ids == tm.num_transition_ids
    for tid in range(1, tm.num_transition_ids + 1):
        assert tm2.transition_id_to_pdf(tid) == tm.transition_id_to_pdf(tid)
        assert tm2.transition_id_to_phone(tid) == tm.transition_id_to_phone(tid)
        assert tm2.is_self_loop(tid) == tm.is_self_loop(tid)
    x = np.random.default_rng(1).normal(size=5).astype(np.float32)
    assert am2.log_likelihood(3, x) == pytest.approx(am.log_likelihood(3, x), rel=1e-6)


def test_model_text_roundtrip(tmp_path):
    _, _, tm, am = make_mono()
    p = tmp_path / "a.txt.mdl"
    model_io.write_model(p, tm, am, binary=False)
    text = p.read_text()
    assert text.startswith("<TransitionModel> \n<Topology> \n")
    assert "<DiagGMM> \n<GCONSTS>  [ " in text and "<MEANS_INVVARS>  [\n  " in text
    # Kaldi's own text form, as str() of the wheel object gives it (at 7 digits)
    assert text.split("<DIMENSION>")[0].replace("-0.6931472", "-0.693147").replace(
        "-1.386294", "-1.38629").replace("-0.2876821", "-0.287682") == str(tm)
    tm2, am2 = model_io.read_model(p)
    _same_tm(tm, tm2, exact=False)
    _same_am(am, am2, rtol=1e-5)
    # text written again from what was read: identical text, except gconsts
    # (Kaldi recomputes them on reading from the 6-digit parameters)
    p2 = tmp_path / "b.txt.mdl"
    model_io.write_model(p2, tm2, am2, binary=False)
    strip = lambda t: [ln for ln in t.splitlines() if not ln.startswith("<GCONSTS>")]  # noqa: E731
    assert strip(p2.read_text()) == strip(text)


def test_read_transition_model_only(tmp_path):
    _, _, tm, am = make_mono()
    model_io.write_model(tmp_path / "final.mdl", tm, am)
    tm2 = model_io.read_transition_model(tmp_path / "final.mdl")
    assert str(tm2) == str(tm)


def test_read_model_errors_name_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.mdl"):
        model_io.read_model(tmp_path / "nothere.mdl")
    bad = tmp_path / "bad.mdl"
    bad.write_bytes(b"\0B<Transition> junk")
    with pytest.raises(KaldiFormatError, match="bad.mdl"):
        model_io.read_model(bad)


def test_model_pdf_count_mismatch(tmp_path):
    _, _, tm, am = make_mono()
    _, _, _, am_small = make_mono(num_phones=3)
    with pytest.raises(ValueError, match="pdfs"):
        model_io.write_model(tmp_path / "x.mdl", tm, am_small)


def test_tree_roundtrip_matches_wheel_writer(tmp_path):
    _, ctx, _, _ = make_mono()
    for binary in (True, False):
        ours, theirs = tmp_path / f"ours.{binary}", tmp_path / f"wheel.{binary}"
        model_io.write_tree(ours, ctx, binary=binary)
        ctx.write(binary, str(theirs))
        assert ours.read_bytes() == theirs.read_bytes()
        ctx2 = model_io.read_tree(ours)
        assert ctx2.num_pdfs == ctx.num_pdfs
        again = tmp_path / f"again.{binary}"
        model_io.write_tree(again, ctx2, binary=binary)
        assert again.read_bytes() == ours.read_bytes()


def test_split_event_map_tree(tmp_path):
    """A tree with SE questions (as build-tree writes) maps phones correctly."""
    # triphone window N=3 P=1; phone 1 one pdf; phones 2,3 share a split on left context
    leaf = lambda a: ConstantMap(a)  # noqa: E731
    pdf_class_table = lambda a, b, c: TableMap(-1, [leaf(a), leaf(b), leaf(c)])  # noqa: E731
    root = TableMap(1, [
        None,
        ConstantMap(0),
        SplitMap(0, [1], pdf_class_table(1, 2, 3), pdf_class_table(4, 5, 6)),
        SplitMap(2, [2, 3], pdf_class_table(7, 8, 9), pdf_class_table(7, 8, 10)),
    ])
    tree = Tree(3, 1, root)
    for binary in (True, False):
        path = tmp_path / f"tree.{binary}"
        model_io.write_tree(path, tree, binary=binary)
        assert model_io.read_tree_structure(path) == tree
        ctx = model_io.read_tree(path)
        assert ctx.num_pdfs == 11 and ctx.context_width == 3 and ctx.central_position == 1
        assert ctx.compute([1, 2, 3], 0) == (True, 1)
        assert ctx.compute([3, 2, 3], 2) == (True, 6)
        assert ctx.compute([0, 3, 2], 2) == (True, 9)
        assert ctx.compute([0, 3, 1], 2) == (True, 10)
        info = ctx.get_pdf_info([1, 2, 3], [-1, 1, 3, 3])
        assert all(len(x) > 0 for x in info)  # every pdf reachable
    text = (tmp_path / "tree.False").read_text()
    assert "SE 0 [ 1 ]\n{ TE -1 3 ( CE 1 CE 2 CE 3 ) \nTE -1 3" in text


CHAIN_TOPO = """<Topology>
<TopologyEntry>
<ForPhones>
1 2 3
</ForPhones>
<State> 0 <ForwardPdfClass> 0 <SelfLoopPdfClass> 1 <Transition> 0 0.5 <Transition> 1 0.5 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
"""


def test_non_hmm_topology_tuples_roundtrip(tmp_path):
    """Chain-style topologies (separate self-loop pdf-class) use <Tuples> and the -1 marker."""
    topo = kaldi_hmm_gmm.HmmTopology()
    topo.read(CHAIN_TOPO)
    assert not topo.is_hmm
    ctx = kaldi_hmm_gmm.monophone_context_dependency([1, 2, 3], topo.get_phone_to_num_pdf_classes())
    tm = kaldi_hmm_gmm.TransitionModel(ctx, topo)
    am = kaldi_hmm_gmm.AmDiagGmm()
    g = kaldi_hmm_gmm.DiagGmm(1, 3)
    g.set_weights(np.ones(1, np.float32))
    g.set_invvars_and_means(np.ones((1, 3), np.float32), np.zeros((1, 3), np.float32))
    g.compute_gconsts()
    am.init(g, tm.num_pdfs)
    for binary in (True, False):
        p = tmp_path / f"chain.{binary}.mdl"
        model_io.write_model(p, tm, am, binary=binary)
        data = p.read_bytes()
        assert b"<Tuples> " in data and b"<Triples>" not in data
        tm2, am2 = model_io.read_model(p)
        assert str(tm2) == str(tm)
        for tid in range(1, tm.num_transition_ids + 1):
            assert tm2.transition_id_to_pdf(tid) == tm.transition_id_to_pdf(tid)
        p2 = tmp_path / f"chain2.{binary}.mdl"
        model_io.write_model(p2, tm2, am2, binary=binary)
        if binary:
            assert p2.read_bytes() == data
    assert b"<ForwardPdfClass> 0 <SelfLoopPdfClass> 1 " in (tmp_path / "chain.False.mdl").read_bytes()


def test_matrix_file_roundtrip(tmp_path):
    m = np.random.default_rng(0).normal(size=(4, 7)).astype(np.float32)
    model_io.write_matrix(tmp_path / "a.mat", m)
    assert (tmp_path / "a.mat").read_bytes()[:6] == b"\0BFM \x04"
    np.testing.assert_array_equal(model_io.read_matrix(tmp_path / "a.mat"), m)
    model_io.write_matrix(tmp_path / "t.mat", m, binary=False)
    np.testing.assert_allclose(model_io.read_matrix(tmp_path / "t.mat"), m, rtol=1e-6)
