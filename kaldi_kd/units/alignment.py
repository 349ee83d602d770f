"""Unit segments from a transition-id alignment (Kaldi ``ali.N.gz``).

- senone: pdf-id per frame (``ali-to-pdf``); a new segment whenever the transition
  state changes or a new phone instance starts, so one segment = one HMM-state
  occurrence.
- monophone: base phone per frame (``ali-to-phones --per-frame`` + position
  stripping); one segment per phone instance.
- word spans: phone instances grouped by phones/word_boundary.int (nonword /
  begin / internal / end / singleton, as ``lattice-align-words``) and matched to the
  transcript; without word_boundary, by the lexicon (align_lexicon).
- subword: each word's span split among its sentencepiece pieces in proportion
  to their character counts (``▁`` not counted, at least 1 each): piece i ends at
  ``start + round(F * C_i / C_n)`` with C_i the cumulative count, forced strictly
  increasing; a word with fewer frames F than pieces keeps its first F pieces only.
  Silence spans are ``<sil>`` units; consecutive silence merges into one segment.
- word: one segment per word span (ids of :func:`kaldi_kd.units.vocab.word_vocab`, 0 =
  ``<sil>``), what a pretrained LM teacher tokenises itself (:mod:`kaldi_kd.units.lm_words`).

Phone instances follow Kaldi's SplitToPhones (both reordered and plain alignments).

Every level's segments carry group codes (``Segments.bounds``: a unit opens a word,
opens a phone, or continues one) for span-masked teachers: word starts come from the
word spans, a silence being a word of its own; a subword piece is a phone of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np

from kaldi_kd.gmm.lang import Lang
from kaldi_kd.units.segments import PHONE_START, WORD_START, Segments, from_frames
from kaldi_kd.errors import KaldiKdError

Span = Tuple[Optional[str], int, int]  # (word or None for silence, start, end)


class AlignmentError(KaldiKdError, ValueError):
    """An alignment does not fit the model, lang or transcript; the message names the utterance."""


@dataclass
class TransitionTables:
    """Per transition-id lookup arrays (index 0 unused), built once per TransitionModel."""

    pdf: np.ndarray
    tstate: np.ndarray
    phone: np.ndarray
    is_final: np.ndarray
    is_self_loop: np.ndarray

    @classmethod
    def from_model(cls, tm) -> "TransitionTables":
        n = tm.num_transition_ids
        tids = range(1, n + 1)
        pdf = np.array([-1] + [tm.transition_id_to_pdf(t) for t in tids], dtype=np.int32)
        tstate = np.asarray(tm.id2state, dtype=np.int32)
        phone = np.array([0] + [tm.transition_id_to_phone(t) for t in tids], dtype=np.int32)
        fin = np.array([False] + [tm.is_final(t) for t in tids])
        loop = np.array([False] + [tm.is_self_loop(t) for t in tids])
        return cls(pdf, tstate, phone, fin, loop)

    def check(self, ali: np.ndarray, utt: str) -> None:
        if ali.size == 0:
            raise AlignmentError(f"{utt}: empty alignment")
        if ali.min() < 1 or ali.max() >= len(self.pdf):
            raise AlignmentError(f"{utt}: transition-id outside 1..{len(self.pdf) - 1} (alignment from another model?)")


def is_reordered(ali: np.ndarray, tt: TransitionTables) -> bool:
    """Kaldi's IsReordered: at the first state change, is the last tid a self-loop?"""
    ts = tt.tstate[ali]
    change = np.flatnonzero(ts[1:] != ts[:-1])
    for i in change:
        if tt.is_self_loop[ali[i]]:
            return True
        if tt.is_self_loop[ali[i + 1]]:
            return False
    return False


def phone_instances(ali: np.ndarray, tt: TransitionTables, utt: str = "") -> List[Tuple[int, int, int]]:
    """(phone-id, start, end) per phone instance (Kaldi SplitToPhones).

    Raises:
        AlignmentError: when the alignment does not end at a phone end.
    """
    ali = np.asarray(ali, dtype=np.int32)
    tt.check(ali, utt)
    reordered = is_reordered(ali, tt)
    ends: List[int] = []
    i, n = 0, len(ali)
    while i < n:
        if tt.is_final[ali[i]]:
            if reordered:
                while i + 1 < n and tt.is_self_loop[ali[i + 1]] and tt.tstate[ali[i + 1]] == tt.tstate[ali[i]]:
                    i += 1
            ends.append(i + 1)
        elif i + 1 == n:
            raise AlignmentError(f"{utt}: alignment does not end at the end of a phone")
        elif tt.phone[ali[i]] != tt.phone[ali[i + 1]]:
            raise AlignmentError(f"{utt}: phone changes at frame {i + 1} without a final transition")
        i += 1
    starts = [0] + ends[:-1]
    return [(int(tt.phone[ali[s]]), s, e) for s, e in zip(starts, ends)]


def _phone_starts(instances: Sequence[Tuple[int, int, int]], n: int) -> np.ndarray:
    b = np.zeros(n, dtype=bool)
    b[[s for _, s, _ in instances]] = True
    return b


def segment_bounds(starts: np.ndarray, phone_starts: Sequence[int], word_starts: Optional[Sequence[int]]) -> Optional[np.ndarray]:
    """Group code of each segment from its start frame (None without word starts)."""
    if word_starts is None:
        return None
    out = np.zeros(len(starts), dtype=np.int8)
    out[np.isin(starts, phone_starts)] = PHONE_START
    out[np.isin(starts, word_starts)] = WORD_START
    return out


def senone_segments(ali: np.ndarray, tt: TransitionTables, utt: str = "",
                    word_starts: Optional[Sequence[int]] = None) -> Segments:
    """pdf-id segments, one per HMM-state occurrence (bounds when ``word_starts`` are given)."""
    ali = np.asarray(ali, dtype=np.int32)
    inst = phone_instances(ali, tt, utt)
    ts = tt.tstate[ali]
    new = _phone_starts(inst, len(ali))
    new[1:] |= ts[1:] != ts[:-1]
    seg = from_frames(tt.pdf[ali], new)
    bounds = segment_bounds(seg.starts, [s for _, s, _ in inst], word_starts)
    return seg if bounds is None else Segments(seg.units, seg.ends, bounds)


def monophone_segments(ali: np.ndarray, tt: TransitionTables, phone_map: np.ndarray, utt: str = "",
                       word_starts: Optional[Sequence[int]] = None) -> Segments:
    """Position-independent phone segments, one per phone instance (bounds when ``word_starts`` are given)."""
    inst = phone_instances(np.asarray(ali, dtype=np.int32), tt, utt)
    units = np.array([phone_map[p] for p, _, _ in inst], dtype=np.int32)
    if np.any(units < 0):
        raise AlignmentError(f"{utt}: alignment holds a phone with no monophone unit")
    starts = np.array([s for _, s, _ in inst], dtype=np.int32)
    return Segments(units, np.array([e for _, _, e in inst], dtype=np.int32),
                    segment_bounds(starts, starts, word_starts))


def word_spans(instances: Sequence[Tuple[int, int, int]], lang: Lang, transcript: Sequence[str],
               utt: str = "") -> List[Span]:
    """Word (or silence = None) spans from phone instances, matched to the transcript.

    Raises:
        AlignmentError: naming the utterance when the word count or pronunciations
            do not match the transcript.
    """
    groups = (_groups_by_boundary(instances, lang, utt) if lang.position_dependent
              else _groups_by_lexicon(instances, lang, transcript, utt))
    words = [g for g in groups if g[0] is not None]
    if len(words) != len(transcript):
        raise AlignmentError(f"{utt}: alignment has {len(words)} words, transcript {len(transcript)}")
    out: List[Span] = []
    it = iter(transcript)
    for phones, s, e in groups:
        if phones is None:
            out.append((None, s, e))
            continue
        w = next(it)
        wid = lang.words.get(w)
        prons = lang.align_lexicon.get(wid, []) if wid is not None else []
        if prons and tuple(phones) not in prons:
            raise AlignmentError(f"{utt}: phones of word '{w}' at frames {s}-{e} match no pronunciation")
        out.append((w, s, e))
    return out


def _groups_by_boundary(instances, lang: Lang, utt: str):
    groups, cur, cur_start = [], None, 0
    for p, s, e in instances:
        kind = lang.word_boundary.get(p)
        if kind is None:
            raise AlignmentError(f"{utt}: phone {p} missing from phones/word_boundary.int")
        if kind in ("nonword", "singleton", "begin") and cur is not None:
            raise AlignmentError(f"{utt}: word starting at frame {cur_start} not ended before frame {s}")
        if kind == "nonword":
            groups.append((None, s, e))
        elif kind == "singleton":
            groups.append(([p], s, e))
        elif kind == "begin":
            cur, cur_start = [p], s
        else:
            if cur is None:
                raise AlignmentError(f"{utt}: '{kind}' phone at frame {s} outside a word")
            cur.append(p)
            if kind == "end":
                groups.append((cur, cur_start, e))
                cur = None
    if cur is not None:
        raise AlignmentError(f"{utt}: last word not ended")
    return groups


def _groups_by_lexicon(instances, lang: Lang, transcript, utt: str):
    groups, i, sil = [], 0, set(lang.silence)
    phones = [p for p, _, _ in instances]
    for w in list(transcript) + [None]:
        prons = lang.align_lexicon.get(lang.words.get(w, -1), []) if w is not None else []
        while i < len(instances):
            match = next((pr for pr in prons if tuple(phones[i : i + len(pr)]) == pr), None)
            if match is not None:
                groups.append((list(match), instances[i][1], instances[i + len(match) - 1][2]))
                i += len(match)
                break
            if phones[i] not in sil:
                raise AlignmentError(f"{utt}: phones at frame {instances[i][1]} match no pronunciation of '{w}'")
            groups.append((None, instances[i][1], instances[i][2]))
            i += 1
    return groups


def split_frames(start: int, end: int, weights: Sequence[int]) -> List[int]:
    """Exclusive end frames of pieces sharing [start, end) by weight (see module doc)."""
    n, f = len(weights), end - start
    n_kept = min(n, f)
    w = np.asarray(weights[:n_kept], dtype=np.float64)
    cum = np.cumsum(w) / w.sum()
    ends = [start + int(round(f * c)) for c in cum]
    ends[-1] = end
    for i in range(n_kept):  # strictly increasing, leaving room for the rest
        lo = (ends[i - 1] if i else start) + 1
        hi = end - (n_kept - 1 - i)
        ends[i] = min(max(ends[i], lo), hi)
    return ends


def piece_weight(piece: str) -> int:
    return max(1, len(piece.replace("\u2581", "")))


def word_segments(spans: Sequence[Span], word_index: Mapping[str, int], sil_id: int = 0) -> Segments:
    """Word segments (ids from ``word_index``) from word spans; silence spans → ``sil_id``, merged.

    Raises:
        KeyError: naming a word missing from ``word_index``.
    """
    units: List[int] = []
    ends: List[int] = []
    for word, s, e in spans:
        unit = sil_id if word is None else word_index[word]
        if word is None and units and units[-1] == sil_id and ends[-1] == s:
            ends[-1] = e
            continue
        units.append(unit)
        ends.append(e)
    return Segments(np.array(units, np.int32), np.array(ends, np.int32))


def segments_to_spans(seg: Segments, symbols: Sequence[str], sil_id: int = 0) -> List[Span]:
    """Inverse of :func:`word_segments`: (word or None, start, end) per segment."""
    starts = seg.starts
    return [(None if u == sil_id else symbols[u], int(s), int(e)) for u, s, e in zip(seg.units, starts, seg.ends)]


def subword_segments(spans: Sequence[Span], sp, sil_id: int) -> Segments:
    """Sentencepiece segments from word spans (silence spans → ``sil_id``)."""
    units: List[int] = []
    ends: List[int] = []
    bounds: List[int] = []
    for word, s, e in spans:
        if word is None:
            if units and units[-1] == sil_id and ends[-1] == s:
                ends[-1] = e  # consecutive silence: one segment
            else:
                units.append(sil_id)
                ends.append(e)
                bounds.append(WORD_START)
            continue
        ids = sp.encode(word, out_type=int)
        piece_ends = split_frames(s, e, [piece_weight(sp.id_to_piece(i)) for i in ids])
        units.extend(ids[: len(piece_ends)])
        ends.extend(piece_ends)
        bounds.extend([WORD_START] + [PHONE_START] * (len(piece_ends) - 1))
    return Segments(np.array(units, np.int32), np.array(ends, np.int32), np.array(bounds, np.int8))
