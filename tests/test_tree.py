"""Tree statistics, phone clustering, build-tree, gmm-init-model and convert-ali."""

from __future__ import annotations

import numpy as np
import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: F401  (import order)
from kaldi_kd.data.features import FeatureReader
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.convert import AlignmentConverter, init_model_from_tree
from kaldi_kd.gmm.event_map import map_event
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.gmm.train_deltas import read_alignments
from kaldi_kd.gmm.train_mono import MonoConfig, train_mono
from kaldi_kd.gmm.tree import TreeConfig, build_tree, cluster_phones, pdf_class_questions
from kaldi_kd.gmm.tree_stats import (TransitionTables, accumulate_tree_stats, frame_events,
                                     gauss_objf, merge_tree_stats)

from gmm_corpus import make_data, make_lang

MONO = MonoConfig(num_iters=6, max_iter_inc=4, totgauss=60, realign_iters=(1, 2, 3, 5))


@pytest.fixture(scope="module")
def mono(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    lang_dir = make_lang(root)
    data = make_data(root, num_utts=30)
    train_mono(data, lang_dir, root / "mono", MONO, nj=1)
    lang = Lang(lang_dir)
    tm = model_io.read_transition_model(root / "mono" / "final.mdl")
    alis = read_alignments(root / "mono")
    feats = FeatureReader(data, cmvn=True, deltas=2)
    stats = accumulate_tree_stats(tm, ((feats[u], a) for u, a in sorted(alis.items())),
                                  ci_phones=lang.context_indep)
    return root, lang, tm, alis, feats, stats


def test_tree_stats_sum_to_frames(mono):
    _, lang, tm, alis, feats, stats = mono
    assert stats.count.sum() == sum(len(a) for a in alis.values())
    allx = np.concatenate([feats[u] for u in sorted(alis)]).astype(np.float64)
    np.testing.assert_allclose(stats.x.sum(axis=0), allx.sum(axis=0), rtol=1e-6, atol=1e-6)
    # events are unique, silence (context-independent) has no context
    assert len(np.unique(stats.events, axis=0)) == len(stats.events)
    sil = stats.events[:, 1] == lang.phones["SIL"]
    assert sil.any() and (stats.events[sil][:, [0, 2]] == 0).all()
    # merging two halves gives the same statistics
    utts = sorted(alis)
    halves = [accumulate_tree_stats(tm, ((feats[u], alis[u]) for u in part),
                                    ci_phones=lang.context_indep)
              for part in (utts[:10], utts[10:])]
    merged = merge_tree_stats(halves)
    np.testing.assert_array_equal(merged.events, stats.events)
    np.testing.assert_allclose(merged.x2, stats.x2)


def test_frame_events_triphone_window(mono):
    _, lang, tm, alis, _, _ = mono
    tables = TransitionTables.from_model(tm)
    utt = sorted(alis)[0]
    ev = frame_events(tables, alis[utt])
    assert ev.shape == (len(alis[utt]), 4)
    centre = ev[:, 1]
    changes = np.flatnonzero(centre[1:] != centre[:-1]) + 1
    for t in changes:   # left context of a new phone = previous phone (unless CI)
        if centre[t] not in lang.context_indep:
            assert ev[t, 0] == centre[t - 1] or centre[t - 1] in lang.context_indep
    assert ev[0, 0] == 0 and ev[-1, 2] == 0


def test_gauss_objf_matches_wheel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    g = kaldi_hmm_gmm.GaussClusterable(4, 0.01)
    for row in x:
        g.add_stats(row, 1.0)
    ours = gauss_objf(np.array([50.0]), x.sum(0)[None], (x * x).sum(0)[None])[0]
    assert ours == pytest.approx(g.objf(), rel=1e-6)   # the binding returns float32


def test_cluster_phones_questions(mono):
    _, lang, *_, stats = mono
    qs = cluster_phones(stats, lang.sets, lang.extra_questions)
    assert all(q == sorted(set(q)) for q in qs)
    for s in lang.sets:                       # every phone set is itself a question
        assert sorted(s) in qs
    assert [lang.phones["SIL"], lang.phones["SPN"]] in qs  # extra question
    assert len(qs) > len(lang.sets)           # plus the internal nodes of the clustering
    assert pdf_class_questions(3) == [[0], [0, 1], [1], [2]]


def _build(mono, num_leaves=40, thresh=10.0):
    _, lang, tm, alis, feats, stats = mono
    qs = cluster_phones(stats, lang.sets, lang.extra_questions)
    topo = lang.topology()
    res = build_tree(stats, lang.roots, qs, topo.get_phone_to_num_pdf_classes(),
                     TreeConfig(num_leaves=num_leaves, thresh=thresh))
    return res, topo


def test_build_tree_reachable_and_consistent(mono, tmp_path):
    _, lang, tm, alis, feats, stats = mono
    res, topo = _build(mono)
    assert res.num_leaves_split <= 40 and res.num_leaves_split > len(lang.roots)
    ctx = res.tree.to_context_dependency()
    num_pdfs = res.tree.num_pdfs()
    assert ctx.num_pdfs == num_pdfs and ctx.context_width == 3 and ctx.central_position == 1
    # every pdf reachable through the tree
    info = ctx.get_pdf_info(topo.phones, topo.get_phone_to_num_pdf_classes())
    assert len(info) == num_pdfs and all(len(x) > 0 for x in info)
    # the wheel's evaluation of our tree agrees with the build's event -> pdf map
    for ev, pdf in zip(stats.events[::7], res.event_pdf[::7]):
        assert ctx.compute(ev[:3].tolist(), int(ev[3])) == (True, int(pdf))
        assert map_event(res.tree.to_pdf, {0: ev[0], 1: ev[1], 2: ev[2], -1: ev[3]}) == pdf
    # Kaldi tree file round trip; a TransitionModel builds on it
    model_io.write_tree(tmp_path / "tree", res.tree)
    data = (tmp_path / "tree").read_bytes()
    assert data.startswith(b"\0BContextDependency ") and b"SE " in data
    ctx2 = model_io.read_tree(tmp_path / "tree")
    model_io.write_tree(tmp_path / "tree2", ctx2)
    assert (tmp_path / "tree2").read_bytes() == data
    model_io.write_tree(tmp_path / "tree.txt", ctx2, binary=False)
    assert model_io.read_tree_structure(tmp_path / "tree.txt") == res.tree
    kaldi_hmm_gmm.TransitionModel(ctx2, topo)


def test_build_tree_respects_limits(mono):
    res_small, _ = _build(mono, num_leaves=12)
    assert res_small.num_leaves_split <= 12
    assert res_small.tree.num_pdfs() % 8 == 0                 # --round-num-leaves
    res_none, _ = _build(mono, thresh=1e12)      # no split is good enough
    assert res_none.num_leaves_split == len(mono[1].roots)
    assert res_none.split_gains == []


def test_init_model_and_convert_alignments(mono):
    _, lang, tm, alis, feats, stats = mono
    res, topo = _build(mono)
    ctx = res.tree.to_context_dependency()
    new_tm, am = init_model_from_tree(ctx, topo, stats, res.event_pdf)
    assert am.num_pdfs == new_tm.num_pdfs == ctx.num_pdfs
    conv = AlignmentConverter(tm, new_tm, ctx)
    old_tables = TransitionTables.from_model(tm)
    id2pdf = np.asarray(new_tm.id2pdf_id)
    for utt in sorted(alis)[:8]:
        old = alis[utt]
        new = conv(old)
        assert len(new) == len(old)
        # same phones, HMM states and self-loop pattern frame by frame
        for a, b in zip(old.tolist(), new.tolist()):
            assert tm.transition_id_to_phone(a) == new_tm.transition_id_to_phone(b)
            assert tm.is_self_loop(a) == new_tm.is_self_loop(b)
        # the new pdfs are what the tree gives for each frame's event
        full = frame_events(old_tables, old, ci_phones=())
        for t in range(0, len(old), 5):
            ok, pdf = ctx.compute(full[t, :3].tolist(), int(full[t, 3]))
            assert ok and pdf == id2pdf[new[t]]
