"""Reading audio for a data dir: wav.scp entries (files or ``cmd |`` pipes) and segments.

Samples come back as float32 in Kaldi's scale (16-bit integer range, not [-1, 1]),
which is what Kaldi's feature extractors expect.
"""

from __future__ import annotations

import struct
import subprocess
from typing import Optional, Tuple

import numpy as np

from kaldi_kd.errors import KaldiKdError


class WavError(KaldiKdError, ValueError):
    """Audio could not be read; the message names the entry (and utterance)."""


def read_wav_bytes(data: bytes, name: str) -> Tuple[np.ndarray, int]:
    """Parse a RIFF/WAVE byte string (PCM 8/16/32-bit or float32; first channel).

    Tolerates the bogus chunk sizes written by tools streaming to a pipe.

    Returns:
        (samples float32 in 16-bit scale, sample rate).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{name}: not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[body:body + 16])
        elif cid == b"data":
            if fmt is None:
                raise WavError(f"{name}: data chunk before fmt chunk")
            end = min(len(data), body + size) if size not in (0, 0xFFFFFFFF) else len(data)
            return _decode(data[body:end], fmt, name)
        pos = body + size + (size & 1)
    raise WavError(f"{name}: no data chunk")


def _decode(raw: bytes, fmt: tuple, name: str) -> Tuple[np.ndarray, int]:
    tag, channels, rate, _, _, bits = fmt
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: treat as PCM/float by bit depth
        tag = 3 if bits == 32 else 1
    kinds = {(1, 8): np.uint8, (1, 16): np.int16, (1, 32): np.int32, (3, 32): np.float32}
    dtype = kinds.get((tag, bits))
    if dtype is None:
        raise WavError(f"{name}: unsupported wav format (tag {tag}, {bits} bits)")
    width = bits // 8 * channels
    raw = raw[: len(raw) - len(raw) % width]
    x = np.frombuffer(raw, dtype=dtype).reshape(-1, channels)[:, 0].astype(np.float32)
    if dtype == np.uint8:
        x = (x - 128.0) * 256.0
    elif dtype == np.int32:
        x = x / 65536.0
    elif dtype == np.float32:
        x = x * 32768.0
    return x, int(rate)


def read_wav_entry(entry: str, name: Optional[str] = None) -> Tuple[np.ndarray, int]:
    """Read one wav.scp entry: a path or a shell pipe ending in ``|``.

    Args:
        entry: the wav.scp value.
        name: what to call it in errors (e.g. ``"data/train/wav.scp: recording 'r1'"``).
    """
    name = name or entry
    if entry.endswith("|"):
        proc = subprocess.run(entry[:-1], shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise WavError(f"{name}: command failed with status {proc.returncode}: {err[0]}")
        return read_wav_bytes(proc.stdout, name)
    try:
        with open(entry, "rb") as f:
            data = f.read()
    except OSError as err:
        raise WavError(f"{name}: cannot read '{entry}': {err.strerror}") from None
    return read_wav_bytes(data, name)


def cut_segment(samples: np.ndarray, rate: int, start: float, end: float, name: str) -> np.ndarray:
    """Samples of [start, end) seconds (Kaldi's extract-segments truncation)."""
    s, e = int(start * rate), int(end * rate)
    if s >= len(samples):
        raise WavError(f"{name}: segment starts at {start} s, past the end of the recording "
                       f"({len(samples) / rate:.3f} s)")
    return samples[s:min(e, len(samples))]
