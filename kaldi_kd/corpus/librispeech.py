"""LibriSpeech → Kaldi data dirs (what Kaldi's ``egs/librispeech/s5/local/data_prep.sh`` does).

The corpus layout (openslr resource 12)::

    LibriSpeech/SPEAKERS.TXT                      ;-comments, then  ID | SEX | SUBSET | MINUTES | NAME
    LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt   <utt-id> WORDS...
    LibriSpeech/<part>/<spk>/<chapter>/<utt-id>.flac

A data dir for ``<part>`` gets, sorted in C order:

- ``wav.scp``: ``<utt> flac -c -d -s <path> |`` (or ``sox <path> -t wav - |`` where there
  is no ``flac`` binary; both give 16 kHz 16-bit RIFF on stdout);
- ``text``: the transcripts as given (upper case);
- ``utt2spk``/``spk2utt`` with speaker = ``<spk>-<chapter>`` as Kaldi does (a chapter is
  one recording session, so CMVN per chapter);
- ``spk2gender`` (``m``/``f``) when ``SPEAKERS.TXT`` is found beside or above the part dir.

Example:
    >>> prepare_librispeech_part("db/LibriSpeech/dev-clean", "data/dev_clean")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.data.datadir import DataDir
from kaldi_kd.errors import KaldiKdError

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: The openslr resources a LibriSpeech recipe downloads (only with --download true).
OPENSLR_AUDIO = "https://www.openslr.org/resources/12"
OPENSLR_LM = "https://www.openslr.org/resources/11"
PARTS = ("dev-clean", "test-clean", "dev-other", "test-other",
         "train-clean-100", "train-clean-360", "train-other-500")


class LibriSpeechError(KaldiKdError, ValueError):
    """The corpus tree is not LibriSpeech-shaped; the message names the file or line."""


@dataclass(frozen=True)
class LibriUtt:
    """One LibriSpeech utterance: ids, transcript, flac path."""

    utt_id: str
    speaker: str      # "<spk>-<chapter>", Kaldi's speaker
    reader: str       # "<spk>", the person (gender lookup)
    text: str
    flac: Path


def part_to_data_name(part: str) -> str:
    """``train-clean-100`` -> ``train_clean_100`` (Kaldi's data dir names)."""
    return part.replace("-", "_")


def wav_command(flac: PathLike, decoder: str = "auto") -> str:
    """The wav.scp pipe that decodes ``flac`` to RIFF on stdout.

    Args:
        decoder: ``flac``, ``sox`` or ``auto`` (flac when on PATH, else sox).

    Raises:
        LibriSpeechError: when the chosen decoder (or, for auto, either) is not on PATH.
    """
    if decoder == "auto":
        decoder = "flac" if shutil.which("flac") else "sox"
    if decoder not in ("flac", "sox"):
        raise LibriSpeechError(f"unknown flac decoder '{decoder}' (flac|sox|auto)")
    if not shutil.which(decoder):
        raise LibriSpeechError(f"no '{decoder}' binary on PATH to decode flac (apt-get install flac or sox)")
    path = shlex.quote(str(Path(flac).resolve()))
    if decoder == "flac":
        return f"flac -c -d -s {path} |"
    return f"sox {path} -t wav - |"


def read_speakers_file(path: PathLike) -> Dict[str, str]:
    """Parse ``SPEAKERS.TXT``: reader id -> ``m``/``f``.

    Raises:
        LibriSpeechError: on a line without 5 ``|``-separated fields or a sex not M/F.
    """
    out: Dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 5:
            raise LibriSpeechError(f"{path}:{n}: expected 'ID | SEX | SUBSET | MINUTES | NAME', got {line!r}")
        sex = fields[1].lower()
        if sex not in ("m", "f"):
            raise LibriSpeechError(f"{path}:{n}: sex must be M or F, got {fields[1]!r}")
        out[fields[0]] = sex
    return out


def find_speakers_file(part_dir: PathLike) -> Optional[Path]:
    """``SPEAKERS.TXT`` in the part dir or its parent (the LibriSpeech root), or None."""
    part = Path(part_dir)
    for cand in (part / "SPEAKERS.TXT", part.parent / "SPEAKERS.TXT"):
        if cand.is_file():
            return cand
    return None


def read_chapter(chapter_dir: Path) -> List[LibriUtt]:
    """The utterances of one ``<spk>/<chapter>`` dir (from its ``.trans.txt``).

    Raises:
        LibriSpeechError: on a missing transcript or flac file, or an utterance id not
            prefixed by ``<spk>-<chapter>-``.
    """
    reader, chapter = chapter_dir.parent.name, chapter_dir.name
    spk = f"{reader}-{chapter}"
    trans = chapter_dir / f"{spk}.trans.txt"
    if not trans.is_file():
        raise LibriSpeechError(f"expected file {trans} to exist")
    utts: List[LibriUtt] = []
    for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        utt = fields[0]
        if not utt.startswith(spk + "-"):
            raise LibriSpeechError(f"{trans}:{n}: utterance id '{utt}' is not prefixed by '{spk}-'")
        flac = chapter_dir / f"{utt}.flac"
        if not flac.is_file():
            raise LibriSpeechError(f"{trans}:{n}: expected audio {flac} to exist")
        utts.append(LibriUtt(utt, spk, reader, fields[1].strip() if len(fields) > 1 else "", flac))
    return utts


def scan_part(part_dir: PathLike) -> List[LibriUtt]:
    """All utterances of a LibriSpeech part dir, sorted by utterance id.

    Raises:
        LibriSpeechError: when the dir is missing or holds no ``<spk>/<chapter>`` dirs.
    """
    part = Path(part_dir)
    if not part.is_dir():
        raise LibriSpeechError(f"expected corpus dir {part} to exist")
    chapters = sorted(c for s in part.iterdir() if s.is_dir() for c in s.iterdir() if c.is_dir())
    if not chapters:
        raise LibriSpeechError(f"{part}: no <speaker>/<chapter> dirs (is this a LibriSpeech part dir?)")
    utts = [u for c in chapters for u in read_chapter(c)]
    return sorted(utts, key=lambda u: u.utt_id.encode())


def _c_sorted(items: Dict[str, str]) -> str:
    return "".join(f"{k} {v}\n" for k, v in sorted(items.items(), key=lambda kv: kv[0].encode()))


def prepare_librispeech_part(part_dir: PathLike, data_dir: PathLike, decoder: str = "auto",
                             validate: bool = True) -> DataDir:
    """Write the Kaldi data dir of one LibriSpeech part (see the module docstring).

    Args:
        part_dir: e.g. ``db/LibriSpeech/train-clean-100``.
        data_dir: e.g. ``data/train_clean_100``.
        decoder: flac decoder for wav.scp pipes (``auto``|``flac``|``sox``).
        validate: validate the result (wav pipes are not run).

    Returns:
        the data dir, loaded.
    """
    utts = scan_part(part_dir)
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_text_atomic(d / "wav.scp", _c_sorted({u.utt_id: wav_command(u.flac, decoder) for u in utts}))
    write_text_atomic(d / "text", _c_sorted({u.utt_id: u.text for u in utts}))
    write_text_atomic(d / "utt2spk", _c_sorted({u.utt_id: u.speaker for u in utts}))
    spk2utt: Dict[str, List[str]] = {}
    for u in utts:
        spk2utt.setdefault(u.speaker, []).append(u.utt_id)
    write_text_atomic(d / "spk2utt", _c_sorted({s: " ".join(us) for s, us in spk2utt.items()}))
    speakers_file = find_speakers_file(part_dir)
    if speakers_file is not None:
        sex = read_speakers_file(speakers_file)
        readers = {u.speaker: u.reader for u in utts}
        missing = sorted(r for r in set(readers.values()) if r not in sex)
        if missing:
            raise LibriSpeechError(f"{speakers_file}: no entry for reader(s) {' '.join(missing[:10])}")
        write_text_atomic(d / "spk2gender", _c_sorted({s: sex[r] for s, r in readers.items()}))
    else:
        logger.warning("%s: no SPEAKERS.TXT beside or above it: no spk2gender", part_dir)
    for stale in ("feats.scp", "cmvn.scp", "utt2num_frames", "utt2dur", "segments"):
        if (d / stale).exists():
            (d / stale).unlink()
    logger.info("%s -> %s: %d utterances, %d speakers (speaker-chapter)", part_dir, d, len(utts), len(spk2utt))
    out = DataDir.load(d)
    return out.validate(check_wavs=False) if validate else out


def subsample_lm_text(src: PathLike, dst: PathLike, max_words: int = 0, stride: int = 1) -> Tuple[int, int]:
    """Stream the LM corpus (``librispeech-lm-norm.txt.gz``) into a smaller text file.

    Keeps every ``stride``-th non-empty line until ``max_words`` words are kept (0 = no
    cap); stops reading there, so a small cap on the 800M-word corpus is fast.  Output
    is gzip'd when ``dst`` ends in ``.gz``; written atomically.

    Returns:
        (lines kept, words kept).
    """
    from kaldi_kd.data.atomic import atomic_path

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise LibriSpeechError(f"expected LM text {src} to exist")
    lines = words = seen = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp, _open_text(src, "rt", src.suffix == ".gz") as fin, \
            _open_text(tmp, "wt", dst.suffix == ".gz") as fout:
        for line in fin:
            toks = line.split()
            if not toks:
                continue
            seen += 1
            if (seen - 1) % stride:
                continue
            fout.write(" ".join(toks) + "\n")
            lines, words = lines + 1, words + len(toks)
            if max_words and words >= max_words:
                break
    logger.info("%s -> %s: kept %d lines, %d words (every %d-th line, cap %s)",
                src, dst, lines, words, stride, max_words or "none")
    return lines, words


def _open_text(path: PathLike, mode: str, gz: bool):
    import gzip

    return gzip.open(path, mode, encoding="utf-8") if gz else open(path, mode, encoding="utf-8")
