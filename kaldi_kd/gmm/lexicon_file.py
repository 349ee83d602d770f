"""Kaldi dict dir from an existing pronunciation lexicon (e.g. LibriSpeech's librispeech-lexicon.txt).

What Kaldi's ``egs/librispeech/s5/local/prepare_dict.sh`` does once the lexicon is
there (its G2P for missing words replaced by :mod:`kaldi_kd.gmm.lexicon`'s flite
letter-to-sound):

- ``lexicon.txt``: the given entries plus ``!SIL SIL``, ``<SPOKEN_NOISE> SPN`` and
  ``<OOV> SPN`` (``<UNK>`` by default), sorted in C order;
- ``silence_phones.txt``: SIL, SPN; ``optional_silence.txt``: SIL;
- ``nonsilence_phones.txt``: one line per base phone with its stress variants
  (``AA AA0 AA1 AA2``), so the variants share one decision-tree root;
- ``extra_questions.txt``: the silence phones, then one line per stress marker
  (all phones with stress 0, with 1, ...), Kaldi's questions about stress.

With ``strip_stress=True`` the stress digits are removed (39 ARPAbet phones, the
phone set of :mod:`kaldi_kd.gmm.lexicon`).
"""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.gmm.lexicon import DictStats, LexiconError, make_lexicon

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
Pron = Tuple[str, ...]
Entry = Tuple[str, Pron]

SILENCE_ENTRIES: Tuple[Entry, ...] = (("!SIL", ("SIL",)), ("<SPOKEN_NOISE>", ("SPN",)))
_PHONE = re.compile(r"^([^\d]+)(\d*)$")


def read_lexicon_file(path: PathLike) -> List[Entry]:
    """Read ``WORD P1 P2 ...`` lines (tabs or spaces; ``.gz`` ok; duplicates dropped).

    A second field that parses as a float (Kaldi's lexiconp.txt) is skipped.

    Raises:
        LexiconError: on a missing file or a line with a word but no phones (names file:line).
    """
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"expected lexicon {path} to exist")
    opener = gzip.open if path.suffix == ".gz" else open
    seen: Dict[Entry, None] = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) > 2 and _is_float(fields[1]):
                fields = [fields[0]] + fields[2:]
            if len(fields) < 2:
                raise LexiconError(f"{path}:{n}: word {fields[0]!r} has no pronunciation")
            seen.setdefault((fields[0], tuple(fields[1:])), None)
    return list(seen)


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def strip_stress_entries(entries: Iterable[Entry]) -> List[Entry]:
    """The entries with stress digits removed (``AH0`` -> ``AH``), duplicates dropped."""
    out: Dict[Entry, None] = {}
    for w, p in entries:
        out.setdefault((w, tuple(x.rstrip("0123456789") for x in p)), None)
    return list(out)


def phone_groups(entries: Iterable[Entry], silence: Sequence[str] = ("SIL", "SPN")) -> List[List[str]]:
    """Non-silence phones grouped by base phone: ``[["AA", "AA0", "AA1", "AA2"], ...]``.

    The base phone (no stress) is always in its group, so unstressed letter-to-sound
    pronunciations are valid phones too.

    Raises:
        LexiconError: on a phone that is not letters followed by an optional stress number.
    """
    groups: Dict[str, set] = {}
    for w, pron in entries:
        for p in pron:
            if p in silence:
                continue
            m = _PHONE.match(p)
            if not m:
                raise LexiconError(f"word {w!r}: phone {p!r} is not <letters><stress digits>")
            groups.setdefault(m.group(1), {m.group(1)}).add(p)
    return [sorted(g, key=str.encode) for _, g in sorted(groups.items())]


def stress_questions(groups: Sequence[Sequence[str]]) -> List[List[str]]:
    """One question per stress marker (``""``, ``"0"``, ``"1"``...): the phones carrying it."""
    by_mark: Dict[str, List[str]] = {}
    for g in groups:
        for p in g:
            by_mark.setdefault(_PHONE.match(p).group(2), []).append(p)
    return [by_mark[k] for k in sorted(by_mark) if len(by_mark[k]) > 0]


def write_dict_dir_from_entries(entries: Sequence[Entry], dict_dir: PathLike, oov_word: str = "<UNK>") -> int:
    """Write the dict dir (see the module docstring); return the number of lexicon lines."""
    d = Path(dict_dir)
    d.mkdir(parents=True, exist_ok=True)
    full = set(entries) | set(SILENCE_ENTRIES) | {(oov_word, ("SPN",))}
    lines = sorted((" ".join((w,) + p) for w, p in full), key=str.encode)
    groups = phone_groups(full)
    write_text_atomic(d / "lexicon.txt", "".join(f"{x}\n" for x in lines))
    write_text_atomic(d / "silence_phones.txt", "SIL\nSPN\n")
    write_text_atomic(d / "optional_silence.txt", "SIL\n")
    write_text_atomic(d / "nonsilence_phones.txt", "".join(" ".join(g) + "\n" for g in groups))
    questions = [["SIL", "SPN"]] + (stress_questions(groups) if any(len(g) > 1 for g in groups) else [])
    write_text_atomic(d / "extra_questions.txt", "".join(" ".join(q) + "\n" for q in questions))
    return len(lines)


def prepare_dict_from_lexicon(lexicon: PathLike, dict_dir: PathLike, oov_word: str = "<UNK>",
                              words: Optional[Sequence[str]] = None, strip_stress: bool = False,
                              g2p_missing: bool = True) -> DictStats:
    """Write a Kaldi dict dir from an existing lexicon file.

    Args:
        lexicon: ``WORD P1 P2 ...`` file (e.g. librispeech-lexicon.txt).
        dict_dir: output dict dir.
        oov_word: the word pronounced SPN.
        words: words that must be pronounced (e.g. from training transcripts); those the
            lexicon lacks get flite letter-to-sound pronunciations (``g2p_missing``) or
            are listed in ``stats.failed_words``.  The whole lexicon is kept either way.
        strip_stress: remove stress digits (39-phone ARPAbet set).
        g2p_missing: pronounce missing words with flite.

    Returns:
        counts: ``num_words`` lexicon words, ``num_g2p`` added by letter-to-sound.
    """
    entries = read_lexicon_file(lexicon)
    if strip_stress:
        entries = strip_stress_entries(entries)
    known = {w for w, _ in entries}
    stats = DictStats(num_words=len(known), num_cmudict=len(known))
    special = {oov_word, "!SIL", "<SPOKEN_NOISE>", "<s>", "</s>", "<eps>"}
    missing = sorted({w for w in (words or []) if w not in known and w not in special and not w.startswith("#")})
    if missing and g2p_missing:
        extra, g2p = make_lexicon(missing, oov_word, cmu={})
        entries += [e for e in extra if e[0] != oov_word]
        stats.num_g2p, stats.g2p_words, stats.failed_words = g2p.num_g2p, g2p.g2p_words, g2p.failed_words
    elif missing:
        stats.failed_words = missing
    n = write_dict_dir_from_entries(entries, dict_dir, oov_word)
    logger.info("%s: %d words, %d lexicon lines written to %s; %d missing words by letter-to-sound%s",
                lexicon, stats.num_words, n, dict_dir, stats.num_g2p,
                f", {len(stats.failed_words)} left out" if stats.failed_words else "")
    return stats
