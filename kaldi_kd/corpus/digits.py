"""The tiny offline "digits" corpus: synthesised connected-digit strings, deterministic.

Words: zero oh one two three four five six seven eight nine.  Train and test use
different voice sets (the test set has voices never heard in training), each voice
with sox speed perturbation; a speaker is voice + speed (``flslt-sp090``) and
utterance ids are ``<speaker>-<nnn>`` so sorting by speaker and by utterance agree.

Example:
    >>> cfg = DigitsConfig(num_train=100, num_test=30)                        # doctest: +SKIP
    >>> make_digits_corpus("db/digits", "data", cfg)   # data/train, data/test  # doctest: +SKIP
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from kaldi_kd.corpus.datadir_writer import Utterance, write_data_dir
from kaldi_kd.corpus.tts import Perturb, SynthJob, TTSError, Voice, flite_voices, missing_tools, synthesize_many
from kaldi_kd.errors import InputError

DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass
class DigitsConfig:
    """Every knob of the corpus, with its default."""

    seed: int = 1
    num_train: int = 100
    num_test: int = 30
    min_digits: int = 1
    max_digits: int = 7
    train_voices: Tuple[str, ...] = ("flite:rms", "flite:awb", "flite:slt",
                                     "espeak-ng:en-us", "espeak-ng:en+m3", "espeak-ng:en+f2")
    train_speeds: Tuple[float, ...] = (0.9, 1.0, 1.1)
    test_voices: Tuple[str, ...] = ("flite:kal16", "espeak-ng:en+f4", "espeak-ng:en-gb+m7")
    test_speeds: Tuple[float, ...] = (1.0,)
    snr_db: Tuple[float, float] = (20.0, 35.0)  # uniform range of the added white noise
    pad: float = 0.15                            # seconds of (noisy) silence each side
    num_workers: int = 0                         # 0 = number of CPUs

    def check(self) -> None:
        """Raise ValueError if the config cannot make the corpus it describes."""
        overlap = set(self.train_voices) & set(self.test_voices)
        if len(set(self.test_voices) - set(self.train_voices)) < 2:
            raise InputError(f"the test set needs >= 2 voices unseen in training (shared: {sorted(overlap)})")
        if not 1 <= self.min_digits <= self.max_digits:
            raise InputError(f"need 1 <= min_digits <= max_digits, got {self.min_digits}, {self.max_digits}")


def digit_string(rng: random.Random, min_digits: int, max_digits: int) -> str:
    """A random digit-word string, e.g. ``"four oh seven"``."""
    return " ".join(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(min_digits, max_digits)))


def speaker_id(voice: Voice, speed: float) -> str:
    """``<voice-tag>-sp<speed*100>``, e.g. ``flslt-sp090``."""
    return f"{voice.tag}-sp{int(round(speed * 100)):03d}"


def plan_set(name: str, voices: List[Voice], speeds: Tuple[float, ...], num: int, cfg: DigitsConfig,
             db: Path) -> List[Tuple[Utterance, SynthJob]]:
    """The utterances of one set: speakers round-robin, texts and noise from the seed."""
    rng = random.Random(f"{cfg.seed}-{name}")
    speakers = [(v, s) for v in voices for s in speeds]
    counts: Dict[str, int] = {}
    out = []
    for i in range(num):
        voice, speed = speakers[i % len(speakers)]
        spk = speaker_id(voice, speed)
        counts[spk] = counts.get(spk, 0) + 1
        utt = f"{spk}-{counts[spk]:03d}"
        text = digit_string(rng, cfg.min_digits, cfg.max_digits)
        snr = round(rng.uniform(*cfg.snr_db), 1)
        perturb = Perturb(speed=speed, pad=cfg.pad, snr_db=snr, seed=rng.randrange(2 ** 31))
        # the file name carries a hash of everything that shapes it: a changed config never reuses it
        key = zlib.crc32(f"{voice}|{text}|{perturb}".encode()) & 0xFFFFFFFF
        wav = str(db / name / spk / f"{utt}_{key:08x}.wav")
        out.append((Utterance(utt, spk, text, wav), SynthJob(voice, text, wav, perturb)))
    return out


def check_voices(voices: List[Voice]) -> None:
    """Raise TTSError naming missing tools or flite voices."""
    missing = missing_tools(voices)
    if missing:
        raise TTSError(f"missing TTS tools: {', '.join(missing)} (apt-get install flite espeak-ng sox)")
    have = set(flite_voices())
    absent = [str(v) for v in voices if v.engine == "flite" and v.name not in have]
    if absent:
        raise TTSError(f"flite voices not available: {', '.join(absent)} (flite -lv lists: {' '.join(sorted(have))})")


def make_digits_corpus(db_dir: str, data_root: str, cfg: DigitsConfig = DigitsConfig()) -> Dict[str, int]:
    """Synthesise the corpus into ``db_dir`` and write ``data_root/{train,test}`` data dirs.

    Resumable: wavs that exist are kept.

    Returns:
        set name -> number of utterances.
    """
    cfg.check()
    sets = {"train": ([Voice.parse(v) for v in cfg.train_voices], cfg.train_speeds, cfg.num_train),
            "test": ([Voice.parse(v) for v in cfg.test_voices], cfg.test_speeds, cfg.num_test)}
    check_voices([v for vs, _, _ in sets.values() for v in vs])
    counts = {}
    for name, (voices, speeds, num) in sets.items():
        plan = plan_set(name, voices, speeds, num, cfg, Path(db_dir))
        durs = synthesize_many([j for _, j in plan], cfg.num_workers, desc=f"digits {name}")
        utts = [Utterance(u.utt_id, u.speaker, u.text, u.wav, durs[u.wav]) for u, _ in plan]
        write_data_dir(utts, Path(data_root) / name)
        counts[name] = len(utts)
    return counts
