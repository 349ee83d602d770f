"""Speech synthesis for offline corpora: flite, espeak-ng, festival + sox, deterministic.

A :class:`Voice` names an engine and an engine voice; :func:`synthesize` renders a text
to a 16 kHz mono 16-bit wav with optional speed perturbation (sox ``speed``, like
Kaldi's speed perturbation), silence padding and white noise at a given SNR (numpy,
seeded, so the same arguments give the same file).  The final file appears atomically,
so :func:`synthesize_many` can resume by skipping files that exist.

Example:
    >>> v = Voice.parse("flite:slt")                                   # doctest: +SKIP
    >>> synthesize(v, "one two three", "x.wav", Perturb(speed=1.1, snr_db=30, seed=7))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]
ENGINES = ("flite", "espeak-ng", "festival")
_BINARIES = {"flite": "flite", "espeak-ng": "espeak-ng", "festival": "text2wave"}


class TTSError(KaldiKdError, RuntimeError):
    """A synthesis tool is missing or failed; the message names the voice and text."""


@dataclass(frozen=True)
class Voice:
    """An engine voice, e.g. ``Voice("flite", "slt")``, ``Voice("espeak-ng", "en-us+m3")``,
    ``Voice("festival", "kal_diphone")``.

    ``tag`` is a short id-safe name (letters and digits) used in speaker ids.
    """

    engine: str
    name: str
    tag: str = ""

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise TTSError(f"unknown TTS engine '{self.engine}' (use one of {ENGINES})")
        if not self.tag:
            short = {"flite": "fl", "espeak-ng": "es", "festival": "fe"}[self.engine]
            object.__setattr__(self, "tag", short + "".join(c for c in self.name if c.isalnum()))

    @classmethod
    def parse(cls, spec: str) -> "Voice":
        """``engine:name`` -> Voice."""
        engine, sep, name = spec.partition(":")
        if not sep or not name:
            raise TTSError(f"voice spec '{spec}' is not engine:name (e.g. flite:slt, espeak-ng:en+m3)")
        return cls(engine, name)

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


@dataclass(frozen=True)
class Perturb:
    """Signal changes after synthesis: sox speed factor, padding (s), noise SNR (dB, None = none),
    sox pitch shift in cents (0 = none; left out of the repr so existing wav-name hashes
    built from ``str(perturb)`` stay valid — include it yourself in such keys when used)."""

    speed: float = 1.0
    pad: float = 0.15
    snr_db: Optional[float] = None
    seed: int = 0
    pitch: float = field(default=0.0, repr=False)


def missing_tools(voices: Sequence[Voice]) -> List[str]:
    """Binaries (engines + sox) that are not on PATH for these voices."""
    need = {_BINARIES[v.engine] for v in voices} | {"sox"}
    return sorted(b for b in need if shutil.which(b) is None)


def flite_voices() -> List[str]:
    """Voices that ``flite -lv`` lists (empty if flite is missing)."""
    if shutil.which("flite") is None:
        return []
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    return out.split(":", 1)[-1].split()


def _engine_cmd(voice: Voice, text: str, out: str) -> Tuple[List[str], Optional[str]]:
    """(argv, stdin text) that writes ``out``."""
    if voice.engine == "flite":
        return ["flite", "-voice", voice.name, "-t", text, "-o", out], None
    if voice.engine == "espeak-ng":
        return ["espeak-ng", "-v", voice.name, "-w", out, text], None
    return ["text2wave", "-eval", f"(voice_{voice.name})", "-o", out], text


def _run(argv: List[str], stdin: Optional[str], what: str) -> None:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise TTSError(f"{what}: '{argv[0]}' is not installed") from None
    except subprocess.TimeoutExpired:
        raise TTSError(f"{what}: '{argv[0]}' timed out") from None
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or [""])[-1]
        raise TTSError(f"{what}: {argv[0]} failed with status {proc.returncode}: {msg}")
    if "SIOD ERROR" in proc.stderr + proc.stdout:  # festival exits 0 on Scheme errors (e.g. unknown voice)
        msg = next(l for l in (proc.stderr + proc.stdout).splitlines() if "SIOD ERROR" in l)
        raise TTSError(f"{what}: {argv[0]} failed: {msg.strip()}")


def _read_pcm16(path: str) -> Tuple[np.ndarray, int]:
    with wave.open(path, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def write_pcm16(path: PathLike, samples: np.ndarray, rate: int) -> None:
    """Write int16 mono samples as a wav file, atomically."""
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.asarray(samples, dtype=np.int16).tobytes())


def add_noise(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White Gaussian noise at ``snr_db`` below the signal's active-speech power (seeded)."""
    x = samples.astype(np.float64)
    active = x[np.abs(x) > 0.05 * (np.abs(x).max() + 1e-9)]
    power = float(np.mean(active ** 2)) if active.size else 1.0
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=x.shape)
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def synthesize(voice: Voice, text: str, out_wav: PathLike, perturb: Perturb = Perturb(),
               rate: int = 16000) -> float:
    """Render ``text`` with ``voice`` into ``out_wav`` (16-bit mono at ``rate``).

    Returns:
        the duration in seconds.

    Raises:
        TTSError: naming voice and text when a tool is missing or fails.
    """
    what = f"{voice} '{text}'"
    with tempfile.TemporaryDirectory(prefix="tts_") as tmp:
        raw, conv = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "conv.wav")
        argv, stdin = _engine_cmd(voice, text, raw)
        _run(argv, stdin, what)
        effects = ["speed", f"{perturb.speed}"] if perturb.speed != 1.0 else []
        effects += ["pitch", f"{perturb.pitch}"] if perturb.pitch else []
        effects += ["rate", str(rate)]
        if perturb.pad > 0:
            effects += ["pad", str(perturb.pad), str(perturb.pad)]
        _run(["sox", "-R", "-V1", raw, "-r", str(rate), "-c", "1", "-b", "16", conv,
              "remix", "1"] + effects, None, what + " (sox)")
        samples, got_rate = _read_pcm16(conv)
    if samples.size == 0:
        raise TTSError(f"{what}: synthesis produced no audio")
    if perturb.snr_db is not None:
        samples = add_noise(samples, perturb.snr_db, perturb.seed)
    write_pcm16(out_wav, samples, got_rate)
    return samples.size / got_rate


@dataclass(frozen=True)
class SynthJob:
    """One file to render."""

    voice: Voice
    text: str
    wav: str
    perturb: Perturb = Perturb()


def synthesize_many(jobs: Sequence[SynthJob], num_workers: int = 0, desc: str = "synthesis") -> Dict[str, float]:
    """Render many files in parallel (threads driving subprocesses), skipping existing wavs.

    Returns:
        wav path -> duration in seconds (read from the file for skipped ones).
    """
    from tqdm import tqdm

    workers = num_workers or (os.cpu_count() or 1)

    def one(job: SynthJob) -> Tuple[str, float]:
        if os.path.isfile(job.wav):
            with wave.open(job.wav, "rb") as w:
                return job.wav, w.getnframes() / w.getframerate()
        Path(job.wav).parent.mkdir(parents=True, exist_ok=True)
        return job.wav, synthesize(job.voice, job.text, job.wav, job.perturb)

    out: Dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for wav, dur in tqdm(pool.map(one, jobs), total=len(jobs), desc=desc, unit="utt"):
            out[wav] = dur
    return out
