"""Synthesised read-speech corpus: prompts, held-out voices, determinism, exclusion, synthesis."""

import os
import wave
from pathlib import Path

import pytest

from kaldi_kd.corpus.lm_text import merge_lm_text, read_sentences, write_sentences
from kaldi_kd.corpus.prompts import PromptConfig, PromptError, PromptPool
from kaldi_kd.corpus.synth_corpus import (Speaker, SynthCorpusConfig, make_synth_corpus, plan_corpus,
                                          set_speakers)
from kaldi_kd.corpus.tts import Voice, flite_voices, missing_tools
from kaldi_kd.corpus.vocab import uncovered
from kaldi_kd.data.datadir import DataDir

WORDS = ("ALPHA BRAVO CHARLIE DELTA ECHO FOXTROT GOLF HOTEL INDIA JULIET KILO LIMA MIKE "
         "NOVEMBER OSCAR PAPA QUEBEC ROMEO SIERRA TANGO").split()


def _lm_dir(tmp_path: Path, num: int = 400) -> Path:
    """A fake prepare_lm_text.py output: two sources of distinct 5..12 word sentences."""
    lm = tmp_path / "lm"
    sents = [" ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(5 + i % 8)) + f" {WORDS[i % 20]}"
             for i in range(num)]
    sents = list(dict.fromkeys(sents))
    write_sentences(lm / "sources" / "sotu.txt.gz", sents[: len(sents) // 2])
    write_sentences(lm / "sources" / "moby_dick.txt.gz", sents[len(sents) // 2:])
    (lm / "config.yaml").write_text("sources: [sotu, moby_dick]\n")
    merge_lm_text(lm, ["sotu", "moby_dick"])
    return lm


def _small_cfg(seed: int = 1, **kw) -> SynthCorpusConfig:
    cfg = SynthCorpusConfig(seed=seed, train_hours=0.01, dev_hours=0.002, test_hours=0.002, **kw)
    cfg.prompts = PromptConfig(seed=seed)
    return cfg


def _signature(plans):
    return {n: [(u.utt_id, u.text, str(j.voice), j.wav, j.perturb) for u, j in p] for n, p in plans.items()}


def test_plan_is_deterministic_and_heldout_is_disjoint(tmp_path):
    lm = _lm_dir(tmp_path)
    a = plan_corpus(str(lm), str(tmp_path / "db"), _small_cfg(seed=3))
    b = plan_corpus(str(lm), str(tmp_path / "db"), _small_cfg(seed=3))
    c = plan_corpus(str(lm), str(tmp_path / "db"), _small_cfg(seed=4))
    assert _signature(a) == _signature(b)
    assert _signature(a) != _signature(c)
    texts = {n: {u.text for u, _ in p} for n, p in a.items()}
    assert texts["test"] and texts["dev"] and len(a["train"]) > 5
    assert not texts["test"] & texts["train"] and not texts["dev"] & texts["train"]
    assert not texts["dev"] & texts["test"]
    voices = {n: {str(j.voice) for _, j in p} for n, p in a.items()}
    assert not voices["train"] & (voices["dev"] | voices["test"])
    # more training hours never change dev/test
    big = _small_cfg(seed=3)
    big.train_hours = 0.05
    d = plan_corpus(str(lm), str(tmp_path / "db"), big)
    assert _signature(d)["test"] == _signature(a)["test"] and _signature(d)["dev"] == _signature(a)["dev"]
    assert len(d["train"]) > len(a["train"])
    # estimated hours near the target (sec_per_word + padding)
    est = sum((u.text.count(" ") + 1) * big.sec_per_word / j.perturb.speed + 0.3 for u, j in d["train"])
    assert 0.05 * 3600 <= est < 0.05 * 3600 + 10


def test_speakers_and_config_checks():
    spk = set_speakers(["flite:slt", "espeak-ng:en+m3"], [(1.0, 0.0), (0.9, 0.0), (1.0, -200.0)])
    assert [s.id for s in spk] == ["flslt-sp100-pn000", "flslt-sp090-pn000", "flslt-sp100-pd200",
                                   "esenm3-sp100-pn000", "esenm3-sp090-pn000", "esenm3-sp100-pd200"]
    assert Speaker(Voice.parse("flite:rms"), 1.1, 150.0).id == "flrms-sp110-pu150"
    with pytest.raises(ValueError, match="shared by train and test"):
        SynthCorpusConfig(test_voices=["flite:rms", "flite:kal16"]).check()
    with pytest.raises(ValueError, match="fewer than 2 voices"):
        SynthCorpusConfig(dev_voices=["flite:kal16"]).check()
    SynthCorpusConfig().check()


def test_prompt_pool_never_reuses_across_sets():
    pool = PromptPool([f"H {i} X Y Z" for i in range(10)], [f"L {i} X Y Z" for i in range(30)],
                      PromptConfig(seed=1, harvard_fraction=0.3))
    test = pool.take("test", 10)
    assert sum(s.startswith("H") for s in test) == 3
    dev = pool.take("dev", 10)
    assert not set(test) & set(dev)
    train = [s for _, s in zip(range(40), pool.stream("train", cycle=True))]
    assert set(train) == ({f"H {i} X Y Z" for i in range(10)} | {f"L {i} X Y Z" for i in range(30)}) - set(test) - set(dev)
    with pytest.raises(PromptError, match="prompts left"):
        pool.take("more", 1)


def _need_tools(voices):
    missing = missing_tools([Voice.parse(v) for v in voices])
    if missing:
        pytest.skip(f"TTS tools missing: {', '.join(missing)}")
    fl = [v.split(":")[1] for v in voices if v.startswith("flite:")]
    if not set(fl) <= set(flite_voices()):
        pytest.skip(f"flite voices missing: {sorted(set(fl) - set(flite_voices()))}")


def test_synthesise_small_corpus(tmp_path):
    train, dev, test = ["flite:slt", "flite:rms"], ["espeak-ng:en-us", "espeak-ng:en+f2"], ["flite:awb", "espeak-ng:en+m3"]
    _need_tools(train + dev + test)
    lm = _lm_dir(tmp_path)
    cfg = _small_cfg(train_voices=train, dev_voices=dev, test_voices=test,
                     train_perturbs=[(1.0, 0.0), (1.1, 0.0), (1.0, 200.0)], num_workers=2, vocab_size=5)
    cfg.train_hours = 0.004
    summary = make_synth_corpus(str(tmp_path / "db"), str(tmp_path / "data"), str(lm), cfg)
    assert summary["train"]["utts"] >= 3 and summary["dev"]["utts"] >= 1 and summary["test"]["utts"] >= 1
    transcripts = []
    for name in ("train", "dev", "test"):
        d = DataDir.load(tmp_path / "data" / name).validate()
        assert d.utts and set(d.utt2spk.values()) <= {s.id for s in set_speakers(
            getattr(cfg, f"{name}_voices"), cfg.train_perturbs if name == "train" else cfg.heldout_perturbs)}
        for utt, path in d.wav_scp.items():
            with wave.open(path, "rb") as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
                assert w.getnframes() > 0.5 * 16000
        transcripts += list(d.text.values())
    excluded = set((tmp_path / "data" / "local" / "excluded_sentences.txt").read_text().splitlines())
    heldout = {t for n in ("dev", "test") for t in DataDir.load(tmp_path / "data" / n).text.values()}
    assert excluded == heldout
    assert not excluded & set(read_sentences(lm / "lm_text.txt.gz"))
    assert uncovered(tmp_path / "data" / "local" / "vocab.txt", transcripts) == []
    # resumable: a rerun keeps every wav (same files, untouched)
    wavs = sorted((tmp_path / "db").rglob("*.wav"))
    mtimes = [os.stat(p).st_mtime_ns for p in wavs]
    make_synth_corpus(str(tmp_path / "db"), str(tmp_path / "data"), str(lm), cfg)
    assert sorted((tmp_path / "db").rglob("*.wav")) == wavs
    assert [os.stat(p).st_mtime_ns for p in wavs] == mtimes


def test_missing_festival_voice_is_named(monkeypatch):
    from kaldi_kd.corpus import synth_corpus
    from kaldi_kd.corpus.tts import TTSError
    if missing_tools([Voice.parse(v) for v in ("flite:slt", "festival:ked_diphone")]):
        pytest.skip("flite/festival/sox not installed")
    monkeypatch.setattr(synth_corpus, "festival_voices", lambda: ["kal_diphone"])
    with pytest.raises(TTSError, match="festival:ked_diphone.*festvox-kdlpc16k"):
        synth_corpus.check_all_voices(SynthCorpusConfig())


def test_pitch_perturbation_changes_audio(tmp_path):
    import numpy as np
    from kaldi_kd.corpus.tts import Perturb, synthesize
    _need_tools(["flite:slt"])
    v = Voice.parse("flite:slt")
    d0 = synthesize(v, "glue the sheet", tmp_path / "a.wav", Perturb(pad=0.0))
    d1 = synthesize(v, "glue the sheet", tmp_path / "b.wav", Perturb(pad=0.0, pitch=300.0))
    assert abs(d0 - d1) < 0.05  # pitch keeps the tempo

    def median_f0(p):
        """Median autocorrelation F0 of the loud, periodic 40 ms frames."""
        with wave.open(str(p), "rb") as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
        f0s, energy = [], (x ** 2).mean()
        for s in range(0, len(x) - 640, 320):
            fr = x[s:s + 640] - x[s:s + 640].mean()
            if (fr ** 2).mean() < 0.1 * energy:
                continue
            ac = np.correlate(fr, fr, "full")[639:]
            lag = 40 + int(np.argmax(ac[40:228]))  # 70..400 Hz
            if ac[lag] > 0.3 * ac[0]:
                f0s.append(16000 / lag)
        return float(np.median(f0s))
    ratio = median_f0(tmp_path / "b.wav") / median_f0(tmp_path / "a.wav")
    assert 1.1 < ratio < 1.3  # +300 cents = x1.19


def test_identical_voices_are_refused():
    from kaldi_kd.corpus.synth_corpus import check_distinct
    _need_tools(["espeak-ng:en-us", "flite:slt"])
    check_distinct(["espeak-ng:en-us", "espeak-ng:en-us+m3", "flite:slt"])
    with pytest.raises(ValueError, match="espeak-ng:en-us and espeak-ng:en-us\\+nosuchvariant produce identical"):
        check_distinct(["espeak-ng:en-us", "espeak-ng:en-us+nosuchvariant"])
