"""Decoding: synthetic log-likelihoods through a tiny HCLG give the right words and a
lattice containing them; the stage script writes Kaldi-layout outputs; reruns skip."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.decode.decoder import (
    DecodeError, DecoderConfig, MappedDecoder, decode_best_path_faster, gmm_loglikes,
)
from kaldi_kd.decode.lattice import best_path, lattice_word_sequences
from kaldi_kd.decode.lattice_io import read_compact_lattices
from kaldi_kd.decode.toy import synthetic_loglikes
from decode_fixtures import make_decode_setup, random_am, toy_system

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def system():
    return toy_system()


def test_decode_synthetic_right_words_and_lattice(system):
    rng = np.random.default_rng(3)
    dec = MappedDecoder(system.hclg, system.trans_model, DecoderConfig(beam=13, lattice_beam=6))
    for _ in range(4):
        words = [int(w) for w in rng.integers(1, 11, size=4)]
        ll, _ = synthetic_loglikes(system, words, rng, noise=1.0)
        res = dec.decode(ll, "u")
        assert res.words == words
        assert len(res.alignment) == ll.shape[0]
        seqs = lattice_word_sequences(res.lattice)
        assert tuple(words) in seqs
        # stored acoustic costs are unscaled (Kaldi's convention): the best path's
        # acoustic cost is minus the sum of the aligned pdfs' log-likelihoods
        bp = best_path(res.lattice, acoustic_scale=0.1)
        pdfs = dec.tid2pdf[np.asarray(bp.alignment) - 1]
        assert bp.acoustic_cost == pytest.approx(-ll[np.arange(len(pdfs)), pdfs].sum(), rel=1e-4)
        # same best path and likelihood as kaldi_hmm_gmm's LatticeFasterDecoder
        ref = decode_best_path_faster(system.hclg, system.trans_model, ll, dec.config)
        assert ref.words == res.words
        assert ref.likelihood == pytest.approx(res.likelihood, abs=1e-2)


def test_positive_loglikes_decode_like_shifted_ones(system):
    # hybrid outputs log p(pdf|x) - log prior are often > 0 (negative arc costs):
    # a per-frame constant changes no path's rank, and the lattice keeps exact costs
    rng = np.random.default_rng(5)
    dec = MappedDecoder(system.hclg, system.trans_model, DecoderConfig(beam=13, lattice_beam=6))
    words = [int(w) for w in rng.integers(1, 11, size=4)]
    ll, _ = synthetic_loglikes(system, words, rng, noise=1.0)
    offsets = rng.uniform(5.0, 40.0, size=(ll.shape[0], 1)).astype(np.float32)
    base, shifted = dec.decode(ll, "u"), dec.decode(ll + offsets, "u")
    assert shifted.words == base.words == words
    assert shifted.alignment == base.alignment
    assert shifted.likelihood == pytest.approx(base.likelihood + 0.1 * offsets.sum(), rel=1e-4)
    seqs_base = lattice_word_sequences(base.lattice)
    seqs_shift = lattice_word_sequences(shifted.lattice)
    assert set(seqs_base) == set(seqs_shift)
    for seq, (g, a) in seqs_base.items():
        assert seqs_shift[seq][0] == pytest.approx(g, abs=1e-3)
        assert seqs_shift[seq][1] == pytest.approx(a - offsets.sum(), rel=1e-4)


def test_decode_bad_shape_names_utterance(system):
    dec = MappedDecoder(system.hclg, system.trans_model)
    with pytest.raises(DecodeError, match="utt7"):
        dec.decode(np.zeros((10, 3), dtype=np.float32), "utt7")


def test_gmm_loglikes_match_decodable(system):
    from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

    am = random_am(system.trans_model, dim=3)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ll = gmm_loglikes(am, x)
    d = kaldi_hmm_gmm.DecodableAmDiagGmmScaled(am, system.trans_model, x, 1.0)
    tm = system.trans_model
    for tid in (1, 7, 20):
        assert ll[2, tm.transition_id_to_pdf(tid)] == pytest.approx(d.log_likelihood(2, tid), abs=1e-3)


def test_decode_stage_outputs_and_rerun(tmp_path):
    s = make_decode_setup(tmp_path, num_utts=6, num_jobs=2)
    ddir = tmp_path / "exp" / "am" / "decode_test"
    cmd = [sys.executable, str(ROOT / "steps_py" / "decode.py"), "--nj", "2", "--beam", "13",
           "--lattice-beam", "6", "--trans-model", str(s["model"]), str(s["graph"]), str(s["data"]),
           str(s["loglikes"]), str(ddir)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (ddir / "num_jobs").read_text().strip() == "2"
    assert (ddir / "log" / "decode.1.log").is_file() and (ddir / "log" / "decode.2.log").is_file()
    hyps = {}
    for j in (1, 2):
        for utt, clat in read_compact_lattices(ddir / f"lat.{j}.gz"):
            hyps[utt] = best_path(clat, acoustic_scale=0.1).words
    assert hyps == s["truth"]
    assert (ddir / "wer_10_0.0").read_text().startswith("%WER 0.00 [ 0 /")
    # a killed job is rerun alone: remove lat.2.gz, the rerun leaves lat.1.gz untouched
    m1 = (ddir / "lat.1.gz").stat().st_mtime_ns
    (ddir / "lat.2.gz").unlink()
    out = subprocess.run(cmd + [], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (ddir / "lat.2.gz").is_file() and (ddir / "lat.1.gz").stat().st_mtime_ns == m1


def test_kaldi_latgen_command_uses_same_options(tmp_path):
    from kaldi_kd.decode.jobs import DecodeJob, kaldi_latgen_command
    from kaldi_kd.kaldi.backend import Backend

    binary = tmp_path / "kaldi" / "src" / "bin" / "latgen-faster-mapped"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    spec = DecodeJob(graph="g/HCLG.fst", trans_model="m/final.mdl", decode_dir="d", kind="loglikes",
                     source="ll", data_dir="data", num_jobs=2,
                     config=DecoderConfig(beam=11, lattice_beam=7, max_active=5000).to_dict())
    cmd = kaldi_latgen_command(Backend("kaldi", tmp_path / "kaldi"), spec, 2)
    assert cmd[0] == str(binary)
    assert {"--beam=11", "--lattice-beam=7", "--max-active=5000", "--acoustic-scale=0.1",
            "--allow-partial=true"} <= set(cmd)
    assert cmd[-4:] == ["m/final.mdl", "g/HCLG.fst", "ark:ll/loglikes.2.ark", "ark:|gzip -c > d/lat.2.gz"]
