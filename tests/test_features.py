"""Features: Kaldi config parsing, MFCC/fbank equal to kaldi_native_fbank's, wav reading,
make_feats + CMVN on a tiny data dir, transforms on tiny matrices, FeatureReader."""

import os
import subprocess
import sys
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import pytest

from kaldi_kd.corpus.tts import write_pcm16
from kaldi_kd.data.datadir import DataDir
from kaldi_kd.data.features import (FeatureConfig, FeatureError, FeatureReader, compute_features, feat_dim)
from kaldi_kd.data.make_feats import compute_cmvn_dir, make_feats
from kaldi_kd.data.tables import read_table_dict, write_table
from kaldi_kd.data.transforms import add_deltas, apply_cmvn, cmvn_stats, splice
from kaldi_kd.data.wav import read_wav_entry

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def _wave(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = 4000 * np.sin(2 * np.pi * (200 + 100 * seed) * t) + rng.normal(0, 300, t.size)
    return np.clip(x, -32768, 32767).astype(np.int16)


def _write_wav(path: Path, x: np.ndarray) -> None:
    write_pcm16(path, x, RATE)


def _conf(tmp_path: Path, name: str, lines) -> Path:
    p = tmp_path / name
    p.write_text("".join(l + "\n" for l in lines))
    return p


def _knf_reference(kind: str, x: np.ndarray) -> np.ndarray:
    """Features straight from kaldi_native_fbank, options set by hand."""
    opts = knf.MfccOptions() if kind == "mfcc" else knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = RATE
    opts.mel_opts.high_freq = -400
    if kind == "mfcc":
        opts.use_energy = False
        opts.num_ceps = 13
        opts.mel_opts.num_bins = 23
        comp = knf.OnlineMfcc(opts)
    else:
        opts.mel_opts.num_bins = 80
        comp = knf.OnlineFbank(opts)
    comp.accept_waveform(RATE, x.astype(np.float32).tolist())
    comp.input_finished()
    return np.array([comp.get_frame(i) for i in range(comp.num_frames_ready)], dtype=np.float32)


MFCC_CONF = ["# MFCC", "--sample-frequency=16000", "--use-energy=false", "--num-ceps=13",
             "--high-freq=-400", "--dither=0  # reproducible"]
FBANK_CONF = ["--sample-frequency=16000", "--num-mel-bins=80", "--high-freq=-400", "--dither=0"]


@pytest.mark.parametrize("kind,lines,dim", [("mfcc", MFCC_CONF, 13), ("fbank", FBANK_CONF, 80)])
def test_features_equal_kaldi_native_fbank(tmp_path, kind, lines, dim):
    x = _wave(1.03, seed=1)
    cfg = FeatureConfig.from_file(_conf(tmp_path, f"{kind}.conf", lines), kind)
    assert cfg.dim == dim
    ours = compute_features(x.astype(np.float32), RATE, cfg)
    ref = _knf_reference(kind, x)
    expected_frames = 1 + (x.size - 400) // 160  # snip-edges: 25 ms window, 10 ms shift
    assert ours.shape == ref.shape == (expected_frames, dim)
    np.testing.assert_array_equal(ours, ref)


def test_kaldi_defaults_when_not_given():
    cfg = FeatureConfig("mfcc")
    assert cfg.get("dither") == 1.0 and cfg.get("num-ceps") == 13 and cfg.get("use-energy") is True
    assert cfg.get("frame-shift") == 10.0 and cfg.get("snip-edges") is True
    assert FeatureConfig("fbank").dim == 23


@pytest.mark.parametrize("line,kind,msg", [
    ("--num-cepz=13", "mfcc", r"bad\.conf:3: unknown mfcc option '--num-cepz'"),
    ("--num-ceps=13", "fbank", r"bad\.conf:3: unknown fbank option '--num-ceps'"),
    ("--use-energy=maybe", "mfcc", r"bad\.conf:3: bad value for '--use-energy'"),
    ("--frame-shift=ten", "mfcc", r"bad\.conf:3: bad value for '--frame-shift'"),
    ("num-ceps=13", "mfcc", r"bad\.conf:3: expected --option=value"),
    ("--window-type=square", "mfcc", r"bad\.conf:3: '--window-type=square' is not one of"),
])
def test_bad_config_names_file_and_line(tmp_path, line, kind, msg):
    p = _conf(tmp_path, "bad.conf", ["# comment", "--sample-frequency=16000", line])
    with pytest.raises(FeatureError, match=msg):
        FeatureConfig.from_file(p, kind)


def test_sample_rate_mismatch_is_named():
    cfg = FeatureConfig("mfcc", {"sample-frequency": 8000.0})
    with pytest.raises(FeatureError, match="utt1: sample rate 16000 Hz does not match --sample-frequency=8000"):
        compute_features(np.zeros(16000, np.float32), RATE, cfg, name="utt1")


def test_wav_file_and_pipe_read_the_same(tmp_path):
    x = _wave(0.3, seed=2)
    _write_wav(tmp_path / "a.wav", x)
    s1, r1 = read_wav_entry(str(tmp_path / "a.wav"))
    s2, r2 = read_wav_entry(f"cat {tmp_path / 'a.wav'} |")
    assert r1 == r2 == RATE
    np.testing.assert_array_equal(s1, x.astype(np.float32))
    np.testing.assert_array_equal(s1, s2)
    with pytest.raises(ValueError, match="command failed with status 1"):
        read_wav_entry("false |", name="data/x/wav.scp: recording 'r'")


@pytest.fixture
def tiny(tmp_path) -> Path:
    """Data dir: 2 speakers x 2 utterances; wav files, one read through a pipe."""
    d = tmp_path / "data" / "tiny"
    d.mkdir(parents=True)
    utts = ["a-1", "a-2", "b-1", "b-2"]
    for i, u in enumerate(utts):
        _write_wav(tmp_path / f"{u}.wav", _wave(0.4 + 0.1 * i, seed=i))
    wav = [f"{u} {tmp_path / u}.wav" for u in utts]
    wav[2] = f"b-1 cat {tmp_path / 'b-1'}.wav |"
    (d / "wav.scp").write_text("\n".join(wav) + "\n")
    (d / "text").write_text("".join(f"{u} one\n" for u in utts))
    (d / "utt2spk").write_text("".join(f"{u} {u[0]}\n" for u in utts))
    (d / "spk2utt").write_text("a a-1 a-2\nb b-1 b-2\n")
    return d


def _make(tiny, tmp_path, cmd=None, nj=2, kind="mfcc", lines=MFCC_CONF, compress=False):
    cfg = FeatureConfig.from_file(_conf(tmp_path, f"{kind}.conf", lines), kind)
    summary = make_feats(str(tiny), str(tmp_path / "log"), str(tmp_path / "feats"), cfg, nj, cmd, compress)
    return cfg, summary


def test_make_feats_and_cmvn_on_data_dir(tiny, tmp_path):
    cfg, summary = _make(tiny, tmp_path)
    lengths = {"a-1": 0.4, "a-2": 0.5, "b-1": 0.6, "b-2": 0.7}
    frames = {u: 1 + (int(s * RATE) - 400) // 160 for u, s in lengths.items()}
    assert summary.num_utts == 4 and summary.dim == 13 and summary.num_frames == sum(frames.values())
    assert DataDir.load(tiny).utt2num_frames() == frames
    for n in (1, 2):
        assert (tmp_path / "feats" / f"raw_mfcc_tiny.{n}.ark").is_file()
        assert "job" in (tmp_path / "log" / f"make_mfcc_tiny.{n}.log").read_text()
    feats = read_table_dict(tiny / "feats.scp")
    np.testing.assert_array_equal(feats["b-1"], _knf_reference("mfcc", _wave(0.6, seed=2)))
    assert feat_dim(tiny) == 13
    assert (tiny / "conf" / "mfcc.conf").read_text().startswith("--sample-frequency=16000")

    assert compute_cmvn_dir(str(tiny), str(tmp_path / "feats")) == 2
    stats = read_table_dict(tiny / "cmvn.scp")
    a = np.concatenate([feats["a-1"], feats["a-2"]]).astype(np.float64)
    assert stats["a"].shape == (2, 14) and stats["a"].dtype == np.float64
    np.testing.assert_allclose(stats["a"][0, :13], a.sum(0), rtol=1e-5)
    assert stats["a"][0, 13] == len(a)
    np.testing.assert_allclose(stats["a"][1, :13], (a ** 2).sum(0), rtol=1e-5)
    DataDir.load(tiny).validate()


def test_make_feats_through_run_pl(tiny, tmp_path):
    cfg, summary = _make(tiny, tmp_path, cmd=str(REPO / "steps_py" / "run.pl"), nj=3, kind="fbank",
                         lines=FBANK_CONF, compress=True)
    assert summary.dim == 80 and summary.num_utts == 4
    feats = read_table_dict(tiny / "feats.scp")
    ref = _knf_reference("fbank", _wave(0.7, seed=3))
    assert feats["b-2"].shape == ref.shape and not np.array_equal(feats["b-2"], ref)  # compressed: lossy
    np.testing.assert_allclose(feats["b-2"], ref, atol=0.1)
    log = (tmp_path / "log" / "make_fbank_tiny.3.log").read_text()
    assert "--job 3" in log and "# Ended (code 0)" in log


def test_make_feats_cli_reports_missing_wav(tiny, tmp_path):
    (tiny / "wav.scp").write_text((tiny / "wav.scp").read_text().replace("a-2.wav", "gone.wav"))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(REPO / "steps_py" / "make_feats.py"), "--nj", "1",
                           str(tiny), str(tmp_path / "log"), str(tmp_path / "f")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "wav.scp:2: recording 'a-2': no such file" in proc.stderr


def test_make_feats_with_segments(tmp_path):
    x = _wave(1.5, seed=3)
    _write_wav(tmp_path / "rec.wav", x)
    d = tmp_path / "data" / "seg"
    d.mkdir(parents=True)
    (d / "wav.scp").write_text(f"rec1 {tmp_path / 'rec.wav'}\n")
    (d / "segments").write_text("s-1 rec1 0.00 0.50\ns-2 rec1 0.70 1.45\n")
    (d / "text").write_text("s-1 one\ns-2 two\n")
    (d / "utt2spk").write_text("s-1 s\ns-2 s\n")
    (d / "spk2utt").write_text("s s-1 s-2\n")
    cfg = FeatureConfig.from_file(_conf(tmp_path, "mfcc.conf", MFCC_CONF), "mfcc")
    make_feats(str(d), str(tmp_path / "log"), str(tmp_path / "f"), cfg, 2)
    feats = read_table_dict(d / "feats.scp")
    np.testing.assert_array_equal(feats["s-2"], _knf_reference("mfcc", x[int(0.7 * RATE):int(1.45 * RATE)]))
    assert feats["s-1"].shape == (1 + (8000 - 400) // 160, 13)


def test_feature_reader_cmvn_deltas_splice(tiny, tmp_path):
    _make(tiny, tmp_path)
    compute_cmvn_dir(str(tiny), str(tmp_path / "feats"))
    raw = read_table_dict(tiny / "feats.scp")
    r = FeatureReader(tiny, cmvn=True, deltas=2, splice=(1, 1))
    assert list(r) == ["a-1", "a-2", "b-1", "b-2"] and len(r) == 4
    x = r["a-2"]
    assert x.dtype == np.float32 and x.shape == (raw["a-2"].shape[0], 13 * 3 * 3) and r.dim == 117
    spk_a = np.concatenate([raw["a-1"], raw["a-2"]])
    normed = raw["a-2"] - spk_a.mean(0)
    np.testing.assert_allclose(x[:, 39:52], normed, atol=1e-3)  # centre frame, static block
    plain = FeatureReader(tiny, cmvn=False)
    np.testing.assert_array_equal(plain["b-1"], raw["b-1"])
    # membership answers without reading and without raising: a subset data dir's reader
    # is asked about every utterance of the full set's alignments (train_deltas on a subset)
    assert "a-1" in r and "zz-9" not in r and "zz-9" not in plain
    with pytest.raises(FeatureError, match="zz-9"):
        r["zz-9"]


def test_feature_reader_dim_mismatch_is_named(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_table(tmp_path / "f.ark", [("s-1", np.zeros((5, 13), np.float32)), ("s-2", np.zeros((5, 40), np.float32))],
                scp=d / "feats.scp")
    (d / "utt2spk").write_text("s-1 s\ns-2 s\n")
    r = FeatureReader(d, cmvn=False)
    r["s-1"]
    with pytest.raises(FeatureError, match="feats.scp: utterance 's-2' has feature dim 40, earlier utterances have 13"):
        r["s-2"]
    with pytest.raises(FeatureError, match="cmvn.scp: expected file to exist"):
        FeatureReader(d, cmvn=True)


def test_cmvn_stats_layout_and_apply():
    x = np.array([[1, 2], [3, 6], [5, 10]], np.float32)
    s = cmvn_stats(x)
    np.testing.assert_array_equal(s, [[9, 18, 3], [35, 140, 0]])
    np.testing.assert_allclose(apply_cmvn(x, s), x - x.mean(0))
    np.testing.assert_allclose(apply_cmvn(x, s, norm_vars=True), (x - x.mean(0)) / x.std(0), atol=1e-5)
    with pytest.raises(ValueError, match=r"do not fit features of dim 2"):
        apply_cmvn(x, np.zeros((2, 5)))


def test_deltas_kaldi_window_2():
    x = np.array([[3], [1], [4], [1], [5]], np.float32)
    d = add_deltas(x, order=2)
    assert d.shape == (5, 3)
    xp = np.pad(x[:, 0], 2, mode="edge")  # edges replicated, window 2: sum_j j x[t+j] / 10
    delta = np.array([sum(j * xp[t + 2 + j] for j in range(-2, 3)) / 10 for t in range(5)])
    np.testing.assert_allclose(d[:, 1], delta, atol=1e-6)
    np.testing.assert_allclose(d[:, 1], [0.0, -0.3, 0.4, 0.9, 0.6], atol=1e-6)
    # Kaldi's second order is the window convolved with itself, applied to x (not to clamped deltas)
    w2 = np.convolve(np.arange(-2, 3) / 10, np.arange(-2, 3) / 10)[::-1]
    xp4 = np.pad(x[:, 0], 4, mode="edge")
    dd = np.array([np.dot(w2, xp4[t:t + 9]) for t in range(5)])
    np.testing.assert_allclose(d[:, 2], dd, atol=1e-6)
    assert add_deltas(np.zeros((4, 13), np.float32)).shape == (4, 39)


def test_splice_values():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    s = splice(x, 1, 2)
    assert s.shape == (4, 8)
    np.testing.assert_array_equal(s[0], [0, 1, 0, 1, 2, 3, 4, 5])   # left edge replicated
    np.testing.assert_array_equal(s[3], [4, 5, 6, 7, 6, 7, 6, 7])   # right edge replicated
    np.testing.assert_array_equal(splice(x, 0, 0), x)
