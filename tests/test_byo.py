"""Bring your own Kaldi experiment: the consistency check on embedded-GMM outputs laid out
under Kaldi's directory names (data/train, data/lang, exp/mono_ali, exp/mono/graph_tgsmall),
each kind of mismatch, and (when KALDI_ROOT is set) Kaldi's own binaries on our files."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: F401  (import order)
from kaldi_kd.data.tables import read_int_vectors, write_int_vectors
from kaldi_kd.gmm import model_io
from kaldi_kd.gmm.align import align_si
from kaldi_kd.gmm.exp_check import KaldiExpError, check_kaldi_exp
from kaldi_kd.gmm.graph import make_graph_dir
from kaldi_kd.gmm.ngram import NgramConfig, make_lang_test
from kaldi_kd.gmm.train_mono import MonoConfig, train_mono

from gmm_corpus import make_data, make_lang
from kaldi_env import kaldi_env, needs_kaldi

ROOT = Path(__file__).resolve().parents[1]
MONO = MonoConfig(num_iters=4, max_iter_inc=3, totgauss=60, realign_iters=(1, 2, 3))


def build_kaldi_like_run(tmp: Path) -> Path:
    """A Kaldi-named experiment from the embedded GMM stages; returns its root."""
    src = tmp / "src"
    lang_src = make_lang(src)
    data_src = make_data(src, num_utts=18)
    run = tmp / "run"
    shutil.copytree(data_src, run / "data" / "train")
    shutil.copytree(lang_src, run / "data" / "lang")
    data, lang = run / "data" / "train", run / "data" / "lang"
    (data / "utt2num_frames").unlink(missing_ok=True)
    train_mono(data, lang, run / "exp" / "mono", MONO, nj=2)
    align_si(data, lang, run / "exp" / "mono", run / "exp" / "mono_ali", nj=2)
    make_lang_test([data / "text"], lang, run / "data" / "lang_test_tgsmall", NgramConfig(order=2))
    tm, _ = model_io.read_model(run / "exp" / "mono" / "final.mdl")
    ctx = model_io.read_tree(run / "exp" / "mono" / "tree")
    make_graph_dir(run / "data" / "lang_test_tgsmall", tm, ctx, run / "exp" / "mono" / "graph_tgsmall")
    return run


@pytest.fixture(scope="module")
def kaldi_run(tmp_path_factory):
    return build_kaldi_like_run(tmp_path_factory.mktemp("byo"))


def dirs(run: Path) -> tuple:
    return (run / "data" / "train", run / "exp" / "mono_ali", run / "data" / "lang",
            run / "exp" / "mono" / "graph_tgsmall")


@pytest.fixture
def copy_run(kaldi_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(kaldi_run, dst, symlinks=True)
    return dst


def test_consistent_experiment_passes(kaldi_run):
    rep = check_kaldi_exp(*dirs(kaldi_run))
    tm, am = model_io.read_model(kaldi_run / "exp" / "mono_ali" / "final.mdl")
    assert rep.num_pdfs == tm.num_pdfs == am.num_pdfs > 0
    assert (rep.context_width, rep.central_position) == (1, 0)
    assert rep.feat_dim == 13 and rep.model_dim == 39
    assert rep.num_aligned_utts == rep.num_data_utts == 18


def test_cli_exit_status_and_message(kaldi_run, copy_run):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ok = subprocess.run([sys.executable, str(ROOT / "steps_py" / "byo_check.py"), *map(str, dirs(kaldi_run))],
                        env=env, capture_output=True, text=True, cwd=kaldi_run)
    assert ok.returncode == 0, ok.stderr
    assert "consistent" in (kaldi_run / "exp" / "mono_ali" / "log" / "byo_check.log").read_text()
    bad = subprocess.run([sys.executable, str(ROOT / "steps_py" / "byo_check.py"), "--feat-dim", "80",
                          *map(str, dirs(copy_run))], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "differs from the 80 the AM config expects" in bad.stderr


def test_tree_model_mismatch(copy_run):
    ali = copy_run / "exp" / "mono_ali"
    from gmm_fixtures import make_mono

    _, ctx, _, _ = make_mono(num_phones=4)  # another model's tree: fewer pdfs
    model_io.write_tree(ali / "tree", ctx)
    with pytest.raises(KaldiExpError, match=r"tree/model mismatch: .*mono_ali/tree has 10 pdfs"):
        check_kaldi_exp(*dirs(copy_run))


def test_graph_tree_context_mismatch(copy_run):
    gtree = copy_run / "exp" / "mono" / "tree"
    t = model_io.read_tree_structure(gtree)
    model_io.write_tree(gtree, dataclasses.replace(t, context_width=3, central_position=1))
    with pytest.raises(KaldiExpError, match=r"context mismatch: .*mono/tree has context width 3, central position 1"):
        check_kaldi_exp(*dirs(copy_run))


def test_alignments_for_unknown_utterances_are_listed(copy_run):
    data = copy_run / "data" / "train"
    lines = (data / "feats.scp").read_text().splitlines()
    dropped = sorted(line.split()[0] for line in lines[:2])
    (data / "feats.scp").write_text("".join(line + "\n" for line in lines[2:]))
    with pytest.raises(KaldiExpError) as e:
        check_kaldi_exp(*dirs(copy_run))
    assert "2 alignment(s) in" in str(e.value) and all(u in str(e.value) for u in dropped)


def test_alignment_length_mismatch(copy_run):
    ali = copy_run / "exp" / "mono_ali"
    alis = list(read_int_vectors(ali / "ali.1.gz"))
    utt = alis[0][0]
    alis[0] = (utt, np.concatenate([alis[0][1], alis[0][1][-3:]]))  # 3 frames too long
    write_int_vectors(ali / "ali.1.gz", alis)
    with pytest.raises(KaldiExpError, match=rf"1 alignment length\(s\) differ .*{utt} \(\d+ vs \d+ frames\)"):
        check_kaldi_exp(*dirs(copy_run))


def test_feature_dim_mismatch_against_gmm_and_config(copy_run):
    (copy_run / "exp" / "mono_ali" / "delta_opts").write_text("--delta-order=1\n")
    with pytest.raises(KaldiExpError, match=r"13-dim features, with delta order 1 that is 26, .* 39-dim GMMs"):
        check_kaldi_exp(*dirs(copy_run))
    rep = check_kaldi_exp(*dirs(copy_run), expected_feat_dim=13, gmm_feats=False)
    assert rep.feat_dim == 13
    with pytest.raises(KaldiExpError, match="feature dimension 13 .* the 40 the AM config expects"):
        check_kaldi_exp(*dirs(copy_run), expected_feat_dim=40, gmm_feats=False)


def test_lda_transform_dims(copy_run):
    """A final.mat (LDA+MLLT system): its output must be the GMM's dim, its input a splice of the features."""
    ali = copy_run / "exp" / "mono_ali"
    model_io.write_matrix(ali / "final.mat", np.zeros((39, 13 * 7 + 1), np.float32))  # splice +-3, affine
    assert check_kaldi_exp(*dirs(copy_run)).model_dim == 39
    model_io.write_matrix(ali / "final.mat", np.zeros((40, 13 * 7), np.float32))
    with pytest.raises(KaldiExpError, match=r"final.mat outputs 40 dims, .*final.mdl expects 39"):
        check_kaldi_exp(*dirs(copy_run))
    model_io.write_matrix(ali / "final.mat", np.zeros((39, 100), np.float32))
    with pytest.raises(KaldiExpError, match=r"final.mat takes 100 inputs: not a splice of the 13-dim"):
        check_kaldi_exp(*dirs(copy_run))


@pytest.mark.skipif(shutil.which("fstprint") is None, reason="needs fstprint (Debian libfst-tools)")
def test_graph_for_another_model(copy_run):
    from kaldi_kd.gmm.exp_check import max_graph_ilabel
    from kaldi_kd.gmm.fstutils import read_fst
    from kaldi_kd.kaldi.wheels import kaldifst

    hclg = copy_run / "exp" / "mono" / "graph_tgsmall" / "HCLG.fst"
    tm, _ = model_io.read_model(copy_run / "exp" / "mono_ali" / "final.mdl")
    assert 0 < max_graph_ilabel(hclg) <= tm.num_transition_ids
    g = read_fst(hclg)
    s = g.add_state()
    g.add_arc(g.start, kaldifst.StdArc(tm.num_transition_ids + 7, 0, 0.0, s))  # a transition-id the model lacks
    g.write(str(hclg))
    with pytest.raises(KaldiExpError, match=rf"HCLG.fst has transition-id {tm.num_transition_ids + 7} > "):
        check_kaldi_exp(*dirs(copy_run))


def test_phones_of_lang_and_graph_differ(copy_run):
    g = copy_run / "exp" / "mono" / "graph_tgsmall" / "phones.txt"
    lines = g.read_text().splitlines()
    a, b = lines[3].split(), lines[4].split()
    lines[3], lines[4] = f"{b[0]} {a[1]}", f"{a[0]} {b[1]}"  # two phones swapped
    g.write_text("\n".join(lines) + "\n")
    with pytest.raises(KaldiExpError, match=r"lang/phones.txt and .*graph_tgsmall/phones.txt differ \(line 4"):
        check_kaldi_exp(*dirs(copy_run))


def test_missing_files_named(copy_run):
    (copy_run / "exp" / "mono" / "graph_tgsmall" / "HCLG.fst").unlink()
    for f in (copy_run / "exp" / "mono_ali").glob("ali.*.gz"):
        f.unlink()
    with pytest.raises(KaldiExpError) as e:
        check_kaldi_exp(*dirs(copy_run))
    assert "graph_tgsmall/HCLG.fst to exist" in str(e.value) and "mono_ali/ali.*.gz" in str(e.value)


@needs_kaldi
def test_kaldi_binaries_read_our_files(kaldi_run, tmp_path):
    """gmm-info, tree-info, ali-to-pdf, latgen-faster-mapped, lattice-copy, compute-wer on our outputs."""
    env = kaldi_env()

    def k(cmd: str) -> str:
        res = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True, cwd=kaldi_run)
        assert res.returncode == 0, f"{cmd}\n{res.stderr}"
        return res.stdout + res.stderr

    tm, am = model_io.read_model(kaldi_run / "exp" / "mono_ali" / "final.mdl")
    assert f"number of pdfs {tm.num_pdfs}" in k("gmm-info exp/mono_ali/final.mdl")
    assert f"num-pdfs {tm.num_pdfs}" in k("tree-info exp/mono_ali/tree")
    k("ali-to-pdf exp/mono_ali/final.mdl 'ark:gunzip -c exp/mono_ali/ali.1.gz|' ark,t:" + str(tmp_path / "pdf.txt"))
    ours = {u: [tm.transition_id_to_pdf(int(t)) for t in a]
            for u, a in read_int_vectors(kaldi_run / "exp" / "mono_ali" / "ali.1.gz")}
    theirs = {f[0]: [int(x) for x in f[1:]]
              for f in (line.split() for line in (tmp_path / "pdf.txt").read_text().splitlines())}
    assert theirs == ours
    # GMM log-likelihoods as a matrix -> Kaldi's mapped lattice decoder on our HCLG
    k("gmm-compute-likes exp/mono_ali/final.mdl 'ark,s,cs:apply-cmvn --utt2spk=ark:data/train/utt2spk "
      "scp:data/train/cmvn.scp scp:data/train/feats.scp ark:- | add-deltas ark:- ark:- |' "
      f"ark:{tmp_path / 'loglikes.ark'}")
    graph = "exp/mono/graph_tgsmall"
    k(f"latgen-faster-mapped --acoustic-scale=0.1 --word-symbol-table={graph}/words.txt exp/mono_ali/final.mdl "
      f"{graph}/HCLG.fst ark:{tmp_path / 'loglikes.ark'} 'ark:|gzip -c > {tmp_path / 'lat.1.gz'}'")
    k(f"lattice-copy 'ark:gunzip -c {tmp_path / 'lat.1.gz'}|' ark:/dev/null")
    k(f"lattice-best-path --acoustic-scale=0.1 'ark:gunzip -c {tmp_path / 'lat.1.gz'}|' ark,t:{tmp_path / 'hyp.int'}")
    words = dict(line.split() for line in (kaldi_run / graph / "words.txt").read_text().splitlines())
    with open(tmp_path / "ref.int", "w") as f:
        for line in (kaldi_run / "data" / "train" / "text").read_text().splitlines():
            utt, *ws = line.split()
            f.write(" ".join([utt] + [words.get(w, words["<UNK>"]) for w in ws]) + "\n")
    out = k(f"compute-wer --mode=present ark:{tmp_path / 'ref.int'} ark:{tmp_path / 'hyp.int'}")
    wer = float(out.split("%WER")[1].split()[0])
    assert wer < 30.0, out  # separable synthetic features: the monophone GMM decodes well
    # our lattices and our scoring, read by Kaldi
    dec = kaldi_run / "exp" / "mono" / "decode_kaldi_check"
    if not dec.exists():
        res = subprocess.run([sys.executable, str(ROOT / "steps_py" / "decode_gmm.py"), "--nj", "2", graph,
                              "data/train", str(dec)], cwd=kaldi_run, env=dict(env, PYTHONPATH=str(ROOT)),
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    utts = sorted(line.split()[0] for line in (kaldi_run / "data" / "train" / "text").read_text().splitlines())
    copied = k(f"lattice-copy 'ark:gunzip -c {dec}/lat.*.gz|' ark,t:- | grep -E '^[^ 0-9]'")
    assert sorted(line.split()[0] for line in copied.splitlines() if line and not line[0].isdigit()
                  and line.split()[0] in utts) == utts
    ours = (dec / "wer_10_0.0").read_text().split("[")[0].strip()
    theirs = k(f"compute-wer --text --mode=present ark:{dec}/scoring_kaldi/test_filt.txt "
               f"ark,p:{dec}/scoring_kaldi/penalty_0.0/10.txt")
    assert ours in theirs, (ours, theirs)  # same %WER from Kaldi's compute-wer


# ---------------------------------------------------------------- run_byo.sh
RECIPE = ROOT / "egs" / "librispeech" / "s5"
TINY_AM = """model: {type: tdnn, hidden_dim: 64, num_layers: 2, tdnn_context: [1, 1]}
data: {max_frames: 2000, valid_fraction: 0.2}
optim: {lr: 0.01, warmup_steps: 2}
num_epochs: 25
device: cpu
bf16: false
checkpoint_every: 1000
log_every: 10
"""
TINY_LM = """kind: bidir
d_model: 16
n_heads: 2
n_layers: 1
d_ff: 32
batch_size: 8
max_steps: 20
warmup_steps: 2
checkpoint_every: 100
valid_every: 10
device: cpu
"""


def run_byo(run: Path, *extra: str) -> subprocess.CompletedProcess:
    conf = run / "conf_tiny"
    conf.mkdir(exist_ok=True)
    (conf / "am.yaml").write_text(TINY_AM)
    for u in ("senone", "monophone", "subword"):
        (conf / f"lm_{u}.yaml").write_text(TINY_LM)
    lm_text = run / "lm.txt"
    lm_text.write_text("".join(line.split(maxsplit=1)[1] + "\n"
                               for line in (run / "data" / "train" / "text").read_text().splitlines()))
    data, ali, lang, graph = dirs(run)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(["bash", str(RECIPE / "run_byo.sh"), "--data", str(data), "--ali", str(ali),
                           "--lang", str(lang), "--graph", str(graph), "--lm-text", str(lm_text),
                           "--test-sets", str(data), "--exp", str(run / "exp" / "byo"), "--conf", str(conf),
                           "--am-config", str(conf / "am.yaml"), "--spm-vocab-size", "12",
                           "--aux-heads", "monophone@1,senone@2,subword@2", "--prior-floor", "0.01",
                           "--nj", "1", *extra],
                          cwd=RECIPE, env=env, capture_output=True, text=True)


def test_run_byo_stops_before_training_on_mismatch(copy_run):
    (copy_run / "exp" / "mono_ali" / "delta_opts").write_text("--delta-order=0\n")
    res = run_byo(copy_run)
    assert res.returncode != 0
    assert "feature dimension mismatch" in res.stdout + res.stderr
    assert not (copy_run / "exp" / "byo" / "spm").exists()  # nothing after the check ran


@pytest.mark.slow
def test_run_byo_end_to_end(copy_run):
    """check -> units -> 3 teachers -> CE and KD AMs -> decode with the Kaldi graph -> score -> compare."""
    res = run_byo(copy_run)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    byo = copy_run / "exp" / "byo"
    assert "consistent" in (byo / "log" / "byo_check.log").read_text()
    for u in ("senone", "monophone", "subword"):
        assert (byo / f"lm_{u}" / "teacher.pt").is_file()
        assert (byo / "units" / u / "units.gz").is_file()
    kd_log = (byo / "am_kd" / "log" / "train.log").read_text()
    assert "kd_senone" in kd_log and "kd_monophone" in kd_log and "kd_subword" in kd_log
    for am in ("am_ce", "am_kd"):
        best = (byo / am / "decode_train" / "scoring_kaldi" / "best_wer").read_text()
        wer = float(best.split()[1])
        assert wer < 20.0, best  # separable synthetic features: the hybrid AM decodes well
    table = (byo / "compare_train.txt").read_text()
    assert "am_ce/decode_train" in table and "am_kd/decode_train" in table


def test_run_byo_check_then_units(copy_run):
    """Stages 0-1 on the Kaldi-named run: the check passes, then units and unit corpora of all levels."""
    res = run_byo(copy_run, "--stop-stage", "1")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    byo = copy_run / "exp" / "byo"
    tm, _ = model_io.read_model(copy_run / "exp" / "mono_ali" / "final.mdl")
    from kaldi_kd.units.io import load_unit_segments

    senone_vocab = (byo / "lm_data" / "senone" / "units.txt").read_text().split("\n")
    assert len([x for x in senone_vocab if x.strip()]) == tm.num_pdfs
    segs = load_unit_segments(byo / "units", ["senone", "monophone", "subword"])
    from kaldi_kd.data.tables import read_table

    frames = {u: m.shape[0] for u, m in read_table(f"scp:{copy_run / 'data' / 'train' / 'feats.scp'}")}
    for u, per_utt in segs.items():
        assert len(per_utt) >= 17  # 18 utterances; the one with an OOV word may fail
        for utt, seg in per_utt.items():
            assert len(seg.units) == len(seg.ends) > 0 and all(int(a) < int(b) for a, b in zip(seg.ends, seg.ends[1:]))
            assert int(seg.ends[-1]) == frames[utt]  # segments cover the utterance
        assert (byo / "lm_data" / u / "train.txt.gz").stat().st_size > 0
