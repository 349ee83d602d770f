"""Monophone / triphone training and alignment on a tiny generated corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: F401  (import order)
from kaldi_kd.data.features import FeatureReader
from kaldi_kd.data.tables import read_int_vectors, write_table
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.align import AlignConfig, align_si
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.gmm.train_mono import MonoConfig, train_mono

from gmm_corpus import LEXICON, make_data, make_lang

MONO = MonoConfig(num_iters=8, max_iter_inc=5, totgauss=90, realign_iters=(1, 2, 3, 5, 7))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("gmm")
    lang = make_lang(root)
    data = make_data(root)
    logs = train_mono(data, lang, root / "exp" / "mono", MONO, nj=2)
    return root, lang, data, logs


def _read_alis(d: Path) -> dict:
    nj = int((d / "num_jobs").read_text())
    out = {}
    for n in range(1, nj + 1):
        out.update(dict(read_int_vectors(d / f"ali.{n}.gz")))
    return out


def _phones(tm, ali, lang) -> list:
    """Phone names of the alignment's phone instances.  With reordered graphs a phone
    instance starts with the forward (non-self-loop) transition of its HMM state 0."""
    return [lang.phone_names[tm.transition_id_to_phone(t)] for t in ali.tolist()
            if tm.transition_ids_is_start_of_phone(t) and not tm.is_self_loop(t)]


def test_mono_likelihood_improves_and_outputs(corpus):
    root, lang, data, logs = corpus
    exp = root / "exp" / "mono"
    likes = [it.like_per_frame for it in logs]
    assert len(likes) == MONO.num_iters
    assert likes[-1] > likes[0] + 10.0          # synthetic data: large gain
    assert all(b > a - 0.5 for a, b in zip(likes[1:], likes[2:]))   # monotone up to noise
    # split_by_count rounds per-pdf targets: Kaldi may overshoot slightly too
    assert logs[0].num_gauss < logs[-1].num_gauss <= 1.1 * MONO.totgauss
    for name in ("final.mdl", "tree", "num_jobs", "ali.1.gz", "ali.2.gz", "config.yaml", "phones.txt"):
        assert (exp / name).exists(), name
    tm, am = model_io.read_model(exp / "final.mdl")
    assert am.num_pdfs == tm.num_pdfs == model_io.read_tree(exp / "tree").num_pdfs
    assert (exp / "log" / "like_per_frame.txt").read_text().count("\n") == MONO.num_iters
    assert (exp / "log" / "acc.3.1.log").is_file()


def test_mono_alignments_match_features_and_transcripts(corpus):
    root, lang_dir, data, _ = corpus
    exp = root / "exp" / "mono"
    tm, _ = model_io.read_model(exp / "final.mdl")
    lang = Lang(lang_dir)
    alis = _read_alis(exp)
    feats = FeatureReader(data, cmvn=True, deltas=2)
    assert sorted(alis) == feats.utts
    text = dict(line.split(maxsplit=1) for line in (data / "text").read_text().splitlines())
    for utt, ali in alis.items():
        assert len(ali) == len(feats[utt])
        assert ali.min() >= 1 and ali.max() <= tm.num_transition_ids
        phones = [p for p in _phones(tm, ali, lang) if p != "SIL"]
        expect = [p for w in text[utt].split() for p in LEXICON.get(w, "SPN").split()]
        assert phones == expect, utt


def test_mono_rerun_skips_finished_iterations(corpus):
    root, lang, data, _ = corpus
    assert train_mono(data, lang, root / "exp" / "mono", MONO, nj=2) == []


def test_align_si_lists_failures(corpus, tmp_path):
    root, lang, data, _ = corpus
    # a copy of the data with one utterance cut to 4 frames: cannot be aligned
    bad = tmp_path / "data"
    shutil.copytree(data, bad)
    reader = FeatureReader(data, cmvn=False)
    items = []
    for u in reader.utts:
        x = reader.raw(u)
        items.append((u, x[:4] if u == reader.utts[5] else x))
    for f in ("feats.scp", "cmvn.scp"):
        (bad / f).unlink()
    write_table((tmp_path / "feats.ark").absolute(), items, scp=bad / "feats.scp")
    from kaldi_kd.data.features import compute_cmvn
    compute_cmvn(bad, (tmp_path / "cmvn.ark").absolute())
    out = tmp_path / "ali"
    totals = align_si(bad, lang, root / "exp" / "mono", out, AlignConfig(), nj=2)
    assert totals["failed"] == [reader.utts[5]]
    assert (out / "failed_utts").read_text().split() == [reader.utts[5]]
    alis = _read_alis(out)
    assert reader.utts[5] not in alis and len(alis) == len(reader.utts) - 1
    assert (out / "final.mdl").is_file() and not (out / "final.mdl").is_symlink()
    assert (out / "phones.txt").read_text() == (lang / "phones.txt").read_text()
    logs = "".join(p.read_text() for p in (out / "log").glob("align.*.log"))
    assert reader.utts[5] in logs and "Did not successfully align" in logs


def test_tri1_training(corpus, tmp_path):
    from kaldi_kd.gmm.train_deltas import DeltasConfig, read_alignments, train_deltas

    root, lang_dir, data, _ = corpus
    ali_dir = tmp_path / "mono_ali"
    assert align_si(data, lang_dir, root / "exp" / "mono", ali_dir, nj=2)["failed"] == []
    exp = tmp_path / "tri1"
    cfg = DeltasConfig(num_iters=7, max_iter_inc=4, realign_iters=(3, 5), thresh=20.0)
    logs = train_deltas(40, 150, data, lang_dir, ali_dir, exp, cfg, nj=2)
    likes = [it.like_per_frame for it in logs]
    assert [it.iteration for it in logs] == list(range(1, 7))
    assert likes[-1] > likes[0] + 3.0
    assert all(b > a - 0.5 for a, b in zip(likes, likes[1:]))
    for name in ("tree", "questions.int", "final.mdl", "num_jobs", "ali.1.gz", "ali.2.gz"):
        assert (exp / name).exists(), name
    tm, am = model_io.read_model(exp / "final.mdl")
    ctx = model_io.read_tree(exp / "tree")
    assert ctx.context_width == 3 and am.num_pdfs == ctx.num_pdfs
    mono_pdfs = model_io.read_model(root / "exp" / "mono" / "final.mdl")[1].num_pdfs
    assert am.num_pdfs > mono_pdfs                    # context-dependent states
    feats = FeatureReader(data, cmvn=True, deltas=2)
    alis = read_alignments(exp)
    assert sorted(alis) == feats.utts
    assert all(len(a) == len(feats[u]) and a.max() <= tm.num_transition_ids for u, a in alis.items())


def test_lda_mllt_training(corpus, tmp_path):
    from kaldi_kd.gmm.gmm_feats import FeatOpts
    from kaldi_kd.gmm.train_lda_mllt import LdaMlltConfig, train_lda_mllt

    root, lang_dir, data, _ = corpus
    ali_dir = tmp_path / "mono_ali"
    align_si(data, lang_dir, root / "exp" / "mono", ali_dir, nj=2)
    exp = tmp_path / "tri2"
    cfg = LdaMlltConfig(num_iters=7, max_iter_inc=4, realign_iters=(5,), mllt_iters=(2, 4),
                        dim=20, thresh=20.0)
    logs = train_lda_mllt(40, 150, data, lang_dir, ali_dir, exp, cfg, nj=2)
    likes = [it.like_per_frame for it in logs]
    assert likes[-1] > likes[0] + 1.0     # ~2 per frame here; MLLT iterations dip (Jacobian)
    mat = model_io.read_matrix(exp / "final.mat")
    assert mat.shape == (20, 13 * 7)
    assert (exp / "final.mat").resolve().name == "4.mat"
    assert not np.allclose(mat, model_io.read_matrix(exp / "0.mat"))   # MLLT applied
    assert FeatOpts.load(exp) == FeatOpts(cmvn=True, deltas=0, splice=3, transform="final.mat")
    assert "--left-context=3 --right-context=3" in (exp / "splice_opts").read_text()
    tm, am = model_io.read_model(exp / "final.mdl")
    assert am.dim == 20
    out = tmp_path / "tri2_ali"
    totals = align_si(data, lang_dir, exp, out, nj=2)
    assert totals["failed"] == [] and totals["done"] == 24
    assert (out / "final.mat").is_file() and not (out / "final.mat").is_symlink()


def test_boost_silence_and_equal_align(corpus):
    from kaldi_kd.gmm.align import boost_silence, compile_graphs, equal_align, make_graph_compiler, \
        transcripts_to_ids

    root, lang_dir, data, _ = corpus
    lang = Lang(lang_dir)
    tm, am = model_io.read_model(root / "exp" / "mono" / "final.mdl")
    _, sil_pdfs = kaldi_hmm_gmm.get_pdfs_for_phones(tm, [lang.optional_silence])
    boosted = boost_silence(am, tm, [lang.optional_silence], 2.0)
    for pdf in range(am.num_pdfs):
        ratio = 2.0 if pdf in sil_pdfs else 1.0
        np.testing.assert_allclose(boosted.get_pdf(pdf).weights, am.get_pdf(pdf).weights * ratio)
    assert boost_silence(am, tm, [lang.optional_silence], 1.0) is am
    ids, num_oov = transcripts_to_ids({"u": "ab zzz cd"}, lang)
    assert num_oov == 1 and ids["u"][1] == lang.oov_id
    graph = compile_graphs(make_graph_compiler(tm, model_io.read_tree(root / "exp" / "mono" / "tree"),
                                               lang.lexicon_fst()), ids)["u"]
    ali = equal_align(graph, 60)
    assert ali is not None and len(ali) == 60
    assert equal_align(graph, 3) is None     # fewer frames than HMM states


def test_mono_through_cmd_runner(corpus, tmp_path):
    """--cmd steps_py/run.pl: jobs run as `python -m kaldi_kd.gmm.em spec JOB` with logs."""
    root, lang, data, _ = corpus
    runner = Path(__file__).resolve().parents[1] / "steps_py" / "run.pl"
    cfg = MonoConfig(num_iters=2, max_iter_inc=1, totgauss=40, realign_iters=(1,))
    logs = train_mono(data, lang, tmp_path / "mono", cfg, nj=2, cmd=str(runner))
    assert [it.iteration for it in logs] == [0, 1]
    assert logs[1].like_per_frame > logs[0].like_per_frame
    log1 = (tmp_path / "mono" / "log" / "acc.1.2.log").read_text()
    assert "kaldi_kd.gmm.em" in log1 and "Overall avg like per frame" in log1
    assert len(_read_alis(tmp_path / "mono")) == 24


def test_mixup_is_reproducible_and_splits_like_kaldi():
    """gmm-est's mix-up: the same model twice gives the same Gaussians (the wheel's own
    perturbation draws from std::random_device); each split halves the heaviest weight and
    moves the pair's means apart by ± perturb * N(0,1) * stddev."""
    from gmm_fixtures import make_mono

    from kaldi_kd.gmm.stats import split_by_count

    def mixed():
        _, _, _, am = make_mono(num_phones=3, dim=4, num_gauss=1, seed=3)
        occs = np.linspace(100, 900, am.num_pdfs).astype(np.float32)
        split_by_count(am, occs, am.num_pdfs * 3, 0.01, 0.2, 20.0)
        return am

    a, b = mixed(), mixed()
    _, _, _, orig = make_mono(num_phones=3, dim=4, num_gauss=1, seed=3)
    assert a.num_gauss == orig.num_pdfs * 3 and a.num_gauss == b.num_gauss
    for p in range(a.num_pdfs):
        ga, gb, g0 = a.get_pdf(p), b.get_pdf(p), orig.get_pdf(p)
        np.testing.assert_array_equal(np.asarray(ga.means), np.asarray(gb.means))
        n, w = ga.num_gauss, np.asarray(ga.weights)
        assert np.isclose(w.sum(), 1.0) and (n == 1 or (w <= 0.5 + 1e-6).all())
        means, m0 = np.asarray(ga.means, np.float64), np.asarray(g0.means, np.float64)[0]
        std = np.sqrt(np.asarray(g0.vars, np.float64))[0]
        np.testing.assert_allclose(np.asarray(ga.vars), np.tile(np.asarray(g0.vars), (n, 1)), rtol=1e-6)
        if n > 1:
            dev = np.abs(means - m0) / std                 # every component within a few perturbations
            assert 0 < dev.max() < 0.01 * 8 and len({tuple(r) for r in means.round(7)}) == n
