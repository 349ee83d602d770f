"""The medium offline read-speech corpus: prompts read by synthetic voices (egs/synth/s5).

Each set has its own voices: dev and test voices are never heard in training.
Training speakers are pseudo-speakers: every training voice with each sox
perturbation (speed 0.9/1.0/1.1, pitch +/- cents).  A set is planned lazily until its
estimated audio length reaches the asked hours, so everything is a function of the
config (seed included): same config -> same prompts, voices and wav files.

Outputs (:func:`make_synth_corpus`):
    <db-dir>/<set>/<speaker>/<utt>_<hash>.wav   16 kHz mono 16-bit (kept on rerun)
    <data-root>/{train,dev,test}/              Kaldi data dirs (wav.scp text utt2spk spk2utt utt2dur)
    <data-root>/local/excluded_sentences.txt   dev+test prompts (kept out of the LM text)
    <data-root>/local/vocab.txt                top-N LM-text words + every transcript word
    <data-root>/local/synth_corpus.yaml        the config used

Example:
    >>> cfg = SynthCorpusConfig(train_hours=0.05, dev_hours=0.01, test_hours=0.01)  # doctest: +SKIP
    >>> make_synth_corpus("db/synth", "data", "data/local/lm", cfg)                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import random
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import yaml

from kaldi_kd.corpus.datadir_writer import Utterance, write_data_dir
from kaldi_kd.corpus.digits import check_voices, speaker_id
from kaldi_kd.corpus.prompts import PromptConfig, PromptPool
from kaldi_kd.corpus.lm_text import exclude_from_lm_text
from kaldi_kd.corpus.tts import Perturb, SynthJob, TTSError, Voice, synthesize, synthesize_many
from kaldi_kd.corpus.vocab import write_vocab
from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class SynthCorpusConfig:
    """Every knob of the corpus, with its default (the full ~5 h training size).

    Attributes:
        train_hours / dev_hours / test_hours: target audio per set (estimated while planning).
        train_voices / dev_voices / test_voices: ``engine:name`` voices; the three sets are disjoint.
        train_perturbs: (speed factor, pitch cents) pairs; each makes a pseudo-speaker per voice.
        heldout_perturbs: the same for dev and test.
        snr_db: range of the seeded white noise added (None = clean).
        pad: seconds of silence each side.
        sec_per_word: speaking-rate estimate used to plan a set's size (at speed 1.0).
        exclude_sets: sets whose prompts are written to the excluded-sentences list.
        vocab_size: top-N LM-text words in the vocabulary (transcript words are always added).
        num_workers: parallel synthesis processes (0 = all CPUs).
        check_distinct: synthesise a probe phrase per voice and refuse voices that sound identical.
    """

    seed: int = 1
    train_hours: float = 5.0
    dev_hours: float = 0.5
    test_hours: float = 0.5
    train_voices: List[str] = field(default_factory=lambda: [
        "flite:rms", "flite:awb", "flite:slt", "festival:ked_diphone",
        "festival:cmu_us_slt_arctic_hts", "espeak-ng:en-us+m3", "espeak-ng:en+f2",
        "espeak-ng:en-gb-scotland+m1", "espeak-ng:en-us+f3"])
    # (espeak-ng ignores variants on the plain "en-gb" voice: en-gb+f4 == en-gb; see check_distinct)
    dev_voices: List[str] = field(default_factory=lambda: ["flite:kal16", "espeak-ng:en-gb-x-rp+f4"])
    test_voices: List[str] = field(default_factory=lambda: ["festival:kal_diphone", "espeak-ng:en-us+m7"])
    train_perturbs: List[Tuple[float, float]] = field(default_factory=lambda: [
        (1.0, 0.0), (0.9, 0.0), (1.1, 0.0), (1.0, 200.0), (1.0, -200.0)])
    heldout_perturbs: List[Tuple[float, float]] = field(default_factory=lambda: [(1.0, 0.0)])
    snr_db: Optional[Tuple[float, float]] = (25.0, 40.0)
    pad: float = 0.15
    sec_per_word: float = 0.31   # 0.33 planned 5.0 h and synthesised 4.76 h with the training voices
    exclude_sets: List[str] = field(default_factory=lambda: ["dev", "test"])
    vocab_size: int = 20000
    num_workers: int = 0
    check_distinct: bool = True
    prompts: PromptConfig = field(default_factory=PromptConfig)

    def check(self) -> None:
        """Raise ValueError if the voice sets overlap or a set has fewer than 2 voices."""
        sets = {"train": self.train_voices, "dev": self.dev_voices, "test": self.test_voices}
        for a, b in itertools.combinations(sets, 2):
            shared = set(sets[a]) & set(sets[b])
            if shared:
                raise InputError(f"voices shared by {a} and {b}: {sorted(shared)} (held-out voices must be unseen)")
        small = [n for n, v in sets.items() if len(v) < 2 and (n == "train" or self.hours(n) > 0)]
        if small:
            raise InputError(f"sets with fewer than 2 voices: {small}")

    def hours(self, name: str) -> float:
        return {"train": self.train_hours, "dev": self.dev_hours, "test": self.test_hours}[name]

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(asdict(self)), sort_keys=False)


def _plain(x: Any) -> Any:
    """Tuples -> lists, recursively (for yaml.safe_dump)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


@dataclass(frozen=True)
class Speaker:
    """A pseudo-speaker: a voice with a speed and pitch perturbation."""

    voice: Voice
    speed: float
    pitch: float

    @property
    def id(self) -> str:
        """``<voice-tag>-sp<speed>-p<n|u|d><cents>``, e.g. ``flslt-sp090-pn000``, ``esenusm3-sp100-pu200``."""
        sign = "n" if self.pitch == 0 else ("u" if self.pitch > 0 else "d")
        return f"{speaker_id(self.voice, self.speed)}-p{sign}{int(abs(self.pitch)):03d}"


def set_speakers(voices: Iterable[str], perturbs: Iterable[Tuple[float, float]]) -> List[Speaker]:
    """Every voice with every perturbation, voice-major order."""
    return [Speaker(Voice.parse(v), float(s), float(p)) for v in voices for s, p in perturbs]


def plan_set(name: str, speakers: List[Speaker], prompts: Iterator[str], hours: float,
             cfg: SynthCorpusConfig, db: Path) -> List[Tuple[Utterance, SynthJob]]:
    """Utterances of one set until the estimated audio reaches ``hours``.

    Speakers take turns (round robin); noise level and seed come from the set's rng.
    The wav name holds a hash of voice, text and perturbation, so a changed config never
    reuses a stale file.
    """
    rng = random.Random(f"{cfg.seed}-{name}-plan")
    counts: Dict[str, int] = {}
    out: List[Tuple[Utterance, SynthJob]] = []
    total, target = 0.0, hours * 3600.0
    for i in itertools.count():
        text = next(prompts, None) if total < target else None
        if text is None:
            break
        spk = speakers[i % len(speakers)]
        counts[spk.id] = counts.get(spk.id, 0) + 1
        utt = f"{spk.id}-{counts[spk.id]:05d}"
        snr = round(rng.uniform(*cfg.snr_db), 1) if cfg.snr_db else None
        perturb = Perturb(speed=spk.speed, pad=cfg.pad, snr_db=snr, seed=rng.randrange(2 ** 31),
                          pitch=spk.pitch)
        key = zlib.crc32(f"{spk.voice}|{text}|{perturb}|{spk.pitch}".encode()) & 0xFFFFFFFF
        wav = str(db / name / spk.id / f"{utt}_{key:08x}.wav")
        out.append((Utterance(utt, spk.id, text, wav), SynthJob(spk.voice, text.lower(), wav, perturb)))
        total += (text.count(" ") + 1) * cfg.sec_per_word / spk.speed + 2 * cfg.pad
    return out


def plan_corpus(lm_dir: str, db_dir: str, cfg: SynthCorpusConfig) -> Dict[str, List[Tuple[Utterance, SynthJob]]]:
    """Plans of test, dev and train (drawn in that order, so train size never changes dev/test)."""
    pool = PromptPool.load(lm_dir, cfg.prompts)
    plans = {}
    for name in ("test", "dev"):
        speakers = set_speakers(getattr(cfg, f"{name}_voices"), cfg.heldout_perturbs)
        plans[name] = plan_set(name, speakers, pool.stream(name), cfg.hours(name), cfg, Path(db_dir))
    speakers = set_speakers(cfg.train_voices, cfg.train_perturbs)
    plans["train"] = plan_set("train", speakers, pool.stream("train", cycle=True), cfg.train_hours, cfg, Path(db_dir))
    return plans


FESTIVAL_VOICE_DIRS = ("/usr/share/festival/voices",)


def festival_voices() -> List[str]:
    """Festival voices installed (directories under /usr/share/festival/voices/<lang>/)."""
    return sorted(p.name for d in FESTIVAL_VOICE_DIRS for p in Path(d).glob("*/*") if p.is_dir())


def check_all_voices(cfg: SynthCorpusConfig) -> None:
    """Raise TTSError naming missing tools, flite voices or festival voices (with the package)."""
    voices = [Voice.parse(v) for v in cfg.train_voices + cfg.dev_voices + cfg.test_voices]
    check_voices(voices)
    have = set(festival_voices())
    absent = [str(v) for v in voices if v.engine == "festival" and v.name not in have]
    if absent:
        raise TTSError(f"festival voices not installed: {', '.join(absent)} (Debian festvox-kallpc16k, "
                       f"festvox-kdlpc16k, festvox-us-slt-hts; have: {' '.join(sorted(have)) or 'none'})")


def check_distinct(voices: List[str], probe: str = "glue the sheet to the dark blue background") -> None:
    """Raise ValueError naming voices that render ``probe`` to identical audio (an engine
    silently ignoring a variant or falling back to its default voice).
    """
    seen: Dict[bytes, str] = {}
    with tempfile.TemporaryDirectory(prefix="voices_") as tmp:
        for i, spec in enumerate(voices):
            wav = Path(tmp) / f"{i}.wav"
            synthesize(Voice.parse(spec), probe, wav, Perturb(pad=0.0))
            digest = hashlib.sha1(wav.read_bytes()).digest()
            if digest in seen:
                raise InputError(f"voices {seen[digest]} and {spec} produce identical audio "
                                 f"(the engine ignores the difference); choose another voice")
            seen[digest] = spec


def synthesize_set(name: str, plan: List[Tuple[Utterance, SynthJob]], data_dir: Path,
                   num_workers: int) -> Dict[str, float]:
    """Render a set (existing wavs kept) and write its data dir; return speaker -> seconds."""
    durs = synthesize_many([j for _, j in plan], num_workers, desc=f"synth {name}")
    utts = [Utterance(u.utt_id, u.speaker, u.text, u.wav, durs[u.wav]) for u, _ in plan]
    write_data_dir(utts, data_dir)
    per_spk: Dict[str, float] = {}
    for u in utts:
        per_spk[u.speaker] = per_spk.get(u.speaker, 0.0) + (u.duration or 0.0)
    return per_spk


def make_synth_corpus(db_dir: str, data_root: str, lm_dir: Optional[str],
                      cfg: SynthCorpusConfig = SynthCorpusConfig()) -> Dict[str, Dict[str, float]]:
    """Synthesise the corpus and write data dirs, the excluded-sentences list and the vocabulary.

    Args:
        db_dir: where wavs go (resumable: existing ones are kept).
        data_root: gets ``train``, ``dev``, ``test`` and ``local/``.
        lm_dir: the LM text directory of ``prepare_lm_text.py`` (prompt source); its
            ``lm_text.txt.gz`` is rewritten without the excluded sentences.
    Returns:
        set name -> {"utts", "hours", "speakers"}.
    """
    cfg.check()
    check_all_voices(cfg)
    if cfg.check_distinct:
        check_distinct(cfg.train_voices + cfg.dev_voices + cfg.test_voices)
    root, local = Path(data_root), Path(data_root) / "local"
    local.mkdir(parents=True, exist_ok=True)
    write_text_atomic(local / "synth_corpus.yaml", cfg.to_yaml())
    plans = plan_corpus(lm_dir, db_dir, cfg)
    excluded = sorted({u.text for n in cfg.exclude_sets for u, _ in plans.get(n, [])})
    write_text_atomic(local / "excluded_sentences.txt", "".join(s + "\n" for s in excluded))
    if lm_dir:
        exclude_from_lm_text(lm_dir, set(excluded))
    summary = {}
    for name in ("train", "dev", "test"):
        per_spk = synthesize_set(name, plans[name], root / name, cfg.num_workers)
        summary[name] = {"utts": len(plans[name]), "hours": sum(per_spk.values()) / 3600,
                         "speakers": len(per_spk)}
        log.info("%s: %d utterances, %.3f h, %d speakers", name, summary[name]["utts"],
                 summary[name]["hours"], summary[name]["speakers"])
    transcripts = [u.text for p in plans.values() for u, _ in p]
    lm_text = Path(lm_dir) / "lm_text.txt.gz" if lm_dir else None
    n = write_vocab(local / "vocab.txt", transcripts, lm_text, cfg.vocab_size)
    log.info("%s: %d words", local / "vocab.txt", n)
    return summary
