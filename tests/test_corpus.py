"""The digits TTS corpus: a few utterances, valid data dirs, unseen test voices, determinism, resume."""

import hashlib
import shutil
import wave
from pathlib import Path

import pytest

from kaldi_kd.corpus.digits import DIGIT_WORDS, DigitsConfig, make_digits_corpus
from kaldi_kd.corpus.tts import Perturb, TTSError, Voice, synthesize
from kaldi_kd.data.datadir import DataDir

TOOLS = ("flite", "espeak-ng", "sox")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason=f"needs {', '.join(TOOLS)} (apt-get install flite espeak-ng sox)")

SMALL = dict(num_train=6, num_test=4, train_voices=("flite:slt", "espeak-ng:en-us"),
             train_speeds=(0.9, 1.1), test_voices=("flite:kal16", "espeak-ng:en+f4"))


def _digest(db: Path):
    return {p.relative_to(db).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(db.rglob("*.wav"))}


def test_small_corpus_is_valid_and_deterministic(tmp_path):
    counts = make_digits_corpus(str(tmp_path / "db"), str(tmp_path / "data"), DigitsConfig(**SMALL))
    assert counts == {"train": 6, "test": 4}
    train = DataDir.load(tmp_path / "data" / "train").validate()
    test = DataDir.load(tmp_path / "data" / "test").validate()
    assert train.speakers == ["esenus-sp090", "esenus-sp110", "flslt-sp090", "flslt-sp110"]
    assert set(test.speakers) == {"flkal16-sp100", "esenf4-sp100"}
    for d in (train, test):
        for utt, words in d.text.items():
            assert utt.startswith(d.utt2spk[utt] + "-")
            assert words and all(w in DIGIT_WORDS for w in words.split())
            with wave.open(d.wav_scp[utt]) as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
                assert 0.4 < w.getnframes() / 16000 < 8
    # same seed, another place -> identical audio and texts
    make_digits_corpus(str(tmp_path / "db2"), str(tmp_path / "data2"), DigitsConfig(**SMALL))
    assert _digest(tmp_path / "db") == _digest(tmp_path / "db2")
    assert (tmp_path / "data" / "train" / "text").read_text() == (tmp_path / "data2" / "train" / "text").read_text()
    # resumable: a rerun keeps existing files
    some = Path(train.wav_scp[train.utts[0]])
    mtime = some.stat().st_mtime_ns
    make_digits_corpus(str(tmp_path / "db"), str(tmp_path / "data"), DigitsConfig(**SMALL))
    assert some.stat().st_mtime_ns == mtime


def test_another_seed_gives_other_texts(tmp_path):
    a = make_digits_corpus(str(tmp_path / "db"), str(tmp_path / "a"), DigitsConfig(**{**SMALL, "num_test": 2}))
    b = make_digits_corpus(str(tmp_path / "db"), str(tmp_path / "b"), DigitsConfig(seed=2, **{**SMALL, "num_test": 2}))
    assert a == b
    assert (tmp_path / "a" / "train" / "text").read_text() != (tmp_path / "b" / "train" / "text").read_text()


def test_test_set_needs_two_unseen_voices():
    with pytest.raises(ValueError, match=">= 2 voices unseen"):
        DigitsConfig(train_voices=("flite:slt", "flite:awb"), test_voices=("flite:slt", "flite:kal16")).check()


def test_speed_perturbation_changes_duration(tmp_path):
    v = Voice.parse("flite:slt")
    d1 = synthesize(v, "one two three", tmp_path / "a.wav", Perturb(speed=1.0, pad=0))
    d2 = synthesize(v, "one two three", tmp_path / "b.wav", Perturb(speed=1.25, pad=0))
    assert abs(d2 - d1 / 1.25) < 0.05


def test_missing_voice_is_named(tmp_path):
    with pytest.raises(TTSError, match="flite:nosuchvoice"):
        make_digits_corpus(str(tmp_path / "db"), str(tmp_path / "data"),
                           DigitsConfig(**{**SMALL, "train_voices": ("flite:nosuchvoice",)}))


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="needs festival (text2wave)")
def test_festival_unknown_voice_is_an_error(tmp_path):
    with pytest.raises(TTSError, match="festival:nosuch_voice 'one'.*SIOD ERROR"):
        synthesize(Voice.parse("festival:nosuch_voice"), "one", tmp_path / "x.wav")
