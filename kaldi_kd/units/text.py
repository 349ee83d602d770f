"""Unit sequences from text, for training teachers on text only.

Each line of LM text (words) is *realised* once, as the lexicon FST L would
generate it: optional silence after every word with probability ``sil_prob``,
and leading / trailing silence with probability ``edge_sil_prob`` (Kaldi's L.fst
uses sil_prob there too; forced alignments of real audio nearly always start and
end in silence, hence the separate default 1.0).  Sampling uses a generator seeded
by (seed, line number), so the three levels made from the same text with the
same seed share every silence placement.  Then:

- monophone: words → phones (align_lexicon, pronunciation ``pron_index``; the
  optional-silence phone for silence) → base-phone units;
- senone: the same phone sequence → for each phone, its context window
  (``ContextDependency.context_width`` phones around it, 0 beyond the utterance,
  silence being an ordinary context phone as in the graph) and the pdf-classes of
  its HMM states → ``ContextDependency.compute`` → pdf-ids; one unit per visited HMM
  state (what an alignment segment is).  Which states are visited: ``hmm_path="sample"``
  (default) samples the state path of each phone from the model's transition
  probabilities with self-loops removed (the jump chain: from state s, go to s' ≠ s
  with p(s→s') / (1 − p(s→s))), so topologies with skips — Kaldi's 5-state silence —
  get the state sequences that alignments show, in proportion; ``hmm_path="all"``
  visits every emitting state once in order.  Left-to-right phones without skips are
  deterministic either way and equal the senone segments of a forced alignment;
- subword: sentencepiece pieces of each word, ``<sil>`` for silence.

Each unit also gets its group code (``Segments.bounds``: opens a word, opens a
phone, continues one; a silence is a word, a subword piece a phone of its own),
written beside the ids as ``train.bounds.gz`` / ``valid.bounds.gz`` (one digit per unit)
for span-masked teachers.

Text is streamed line by line (generators), never loaded whole.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.errors import InputError
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.units.segments import CONTINUES, PHONE_START, WORD_START
from kaldi_kd.units.vocab import UnitVocab, monophone_vocab, senone_vocab, subword_vocab

PathLike = Union[str, os.PathLike]
Item = Optional[str]  # a word, or None for silence


@dataclass
class TextUnitsConfig:
    """Text → units options (every default in one place).

    Attributes:
        sil_prob: probability of optional silence after a word (inside the sentence).
        edge_sil_prob: probability of leading and of trailing silence.
        pron_index: which pronunciation to use (0 = first in align_lexicon).
        oov: word used for words missing from the lexicon ("" = error).
        seed: silence-sampling seed.
        has_keys: lines start with an utterance id (Kaldi ``text``) to skip.
        hmm_path: "sample" | "all" — HMM state paths at the senone level (module doc).
    """

    sil_prob: float = 0.5
    edge_sil_prob: float = 1.0
    pron_index: int = 0
    oov: str = "<unk>"
    seed: int = 1
    has_keys: bool = False
    hmm_path: str = "sample"


def realise(words: Sequence[str], cfg: TextUnitsConfig, rng: np.random.Generator) -> List[Item]:
    """Words with sampled silences (None) as L.fst would produce them."""
    items: List[Item] = []
    if rng.random() < cfg.edge_sil_prob:
        items.append(None)
    for i, w in enumerate(words):
        items.append(w)
        p = cfg.edge_sil_prob if i == len(words) - 1 else cfg.sil_prob
        if rng.random() < p:
            items.append(None)
    return items


def line_rng(cfg: TextUnitsConfig, lineno: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, lineno])


class TextToUnits:
    """Converts realised word sequences to unit ids at one level.

    Args:
        level: "senone" | "monophone" | "subword".
        lang: the lang dir's Lang.
        cfg: TextUnitsConfig.
        trans_model, ctx_dep: needed for "senone" (topology + tree).
        sp: a sentencepiece processor, needed for "subword".
    """

    def __init__(self, level: str, lang: Lang, cfg: TextUnitsConfig = TextUnitsConfig(),
                 trans_model=None, ctx_dep=None, sp=None) -> None:
        self.level, self.lang, self.cfg = level, lang, cfg
        self.ctx, self.sp = ctx_dep, sp
        if level == "senone":
            if trans_model is None or ctx_dep is None:
                raise ValueError("TextToUnits: level 'senone' needs trans_model and ctx_dep")
            if cfg.hmm_path not in ("sample", "all"):
                raise ValueError(f"TextToUnits: hmm_path must be 'sample' or 'all', got {cfg.hmm_path!r}")
            self.vocab: UnitVocab = senone_vocab(trans_model.num_pdfs)
            self._hmm = _HmmTables(trans_model)
            self._cache: dict = {}
        elif level == "monophone":
            self.vocab, self._phone_map = monophone_vocab(lang)
        elif level == "subword":
            if sp is None:
                raise ValueError("TextToUnits: level 'subword' needs a sentencepiece model")
            self.vocab = subword_vocab(sp)
        else:
            raise ValueError(f"TextToUnits: unknown level {level!r}")

    # ---- words → phones -------------------------------------------------------
    def pron(self, word: str) -> Tuple[int, ...]:
        try:
            return self.lang.pronunciation(word, self.cfg.pron_index)
        except KeyError:
            if self.cfg.oov and word != self.cfg.oov:
                return self.lang.pronunciation(self.cfg.oov, self.cfg.pron_index)
            raise

    def phones(self, items: Sequence[Item]) -> List[int]:
        out: List[int] = []
        for it in items:
            out.extend([self.lang.optional_silence] if it is None else self.pron(it))
        return out

    # ---- phones → senones ------------------------------------------------------
    def phone_hmm(self, window: Tuple[int, ...]) -> "PhoneHmm":
        """pdf per emitting state and jump-chain probabilities of the central phone of ``window``."""
        hmm = self._cache.get(window)
        if hmm is None:
            hmm = self._hmm.phone_hmm(self.ctx, window)
            self._cache[window] = hmm
        return hmm

    def senones_per_phone(self, phones: Sequence[int], rng: Optional[np.random.Generator] = None) -> List[List[int]]:
        """pdf-ids of the visited HMM states of each phone, through the decision tree.

        Args:
            phones: realised phone ids.
            rng: generator for ``hmm_path="sample"``; None visits every state once.
        """
        n, p = self.ctx.context_width, self.ctx.central_position
        padded = [0] * p + list(phones) + [0] * (n - 1 - p)
        sample = rng is not None and self.cfg.hmm_path == "sample"
        out: List[List[int]] = []
        for i in range(len(phones)):
            hmm = self.phone_hmm(tuple(padded[i : i + n]))
            out.append(hmm.sample(rng) if sample and not hmm.linear else list(hmm.pdfs))
        return out

    def senones(self, phones: Sequence[int], rng: Optional[np.random.Generator] = None) -> List[int]:
        """pdf-id per visited HMM state of each phone (see :meth:`senones_per_phone`)."""
        return [pdf for states in self.senones_per_phone(phones, rng) for pdf in states]

    # ---- any level --------------------------------------------------------------
    def _word_units(self, it: Item, pending: Iterator[List[int]]) -> List[List[int]]:
        """Units of one realised item, grouped by phone (a subword piece is a phone)."""
        if self.level == "subword":
            return [[self.vocab.sil_id]] if it is None else [[u] for u in self.sp.encode(it, out_type=int)]
        phones = [self.lang.optional_silence] if it is None else list(self.pron(it))
        if self.level == "monophone":
            return [[int(self._phone_map[ph])] for ph in phones]
        return [next(pending) for _ in phones]

    def units_and_bounds(self, items: Sequence[Item], rng: Optional[np.random.Generator] = None
                         ) -> "tuple[np.ndarray, np.ndarray]":
        """int32 unit ids and int8 group codes of a realised sentence (rng: see senones)."""
        pending = iter(self.senones_per_phone(self.phones(items), rng) if self.level == "senone" else [])
        ids: List[int] = []
        bounds: List[int] = []
        for it in items:
            for j, phone_units in enumerate(self._word_units(it, pending)):
                ids.extend(phone_units)
                bounds.extend([WORD_START if j == 0 else PHONE_START] + [CONTINUES] * (len(phone_units) - 1))
        return np.asarray(ids, dtype=np.int32), np.asarray(bounds, dtype=np.int8)

    def units(self, items: Sequence[Item], rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """int32 unit ids of a realised sentence at this converter's level (rng: see senones)."""
        return self.units_and_bounds(items, rng)[0]

    def line(self, words: Sequence[str], lineno: int) -> "tuple[np.ndarray, np.ndarray]":
        """Units and group codes of one text line: silences, then (senone level) HMM paths, from the line's seed."""
        rng = line_rng(self.cfg, lineno)
        return self.units_and_bounds(realise(words, self.cfg, rng), rng)

    def __call__(self, words: Sequence[str], lineno: int) -> np.ndarray:
        """Units of one text line (see :meth:`line`)."""
        return self.line(words, lineno)[0]


@dataclass
class PhoneHmm:
    """A phone in context: pdf per emitting state, and the jump chain between states.

    Attributes:
        pdfs: forward pdf-id of each emitting state, in state order.
        jumps: per emitting state, (destinations, probabilities) of its non-self-loop
            transitions; a destination equal to len(pdfs) or more is the final state.
        linear: every state goes only to the next one (the path is all states in order).
    """

    pdfs: List[int]
    jumps: List[Tuple[List[int], np.ndarray]]
    linear: bool

    def sample(self, rng: np.random.Generator) -> List[int]:
        out, s = [], 0
        while s < len(self.pdfs):
            out.append(self.pdfs[s])
            dests, probs = self.jumps[s]
            s = dests[int(rng.choice(len(dests), p=probs))] if len(dests) > 1 else dests[0]
        return out


class _HmmTables:
    """Topology, transition states and transition probabilities of a TransitionModel."""

    def __init__(self, trans_model) -> None:
        from kaldi_kd.gmm.model_io import transition_model_data

        data = transition_model_data(trans_model)
        self.tstate = {tuple(int(x) for x in row): i + 1 for i, row in enumerate(data.tuples)}
        self.log_probs = np.asarray(data.log_probs, dtype=np.float64)
        self.state2id = list(trans_model.state2id)
        self.topo = {p: trans_model.topo.topology_for_phone(p) for p in trans_model.phones}

    def phone_hmm(self, ctx, window: Tuple[int, ...]) -> PhoneHmm:
        phone = window[ctx.central_position]
        states = self.topo.get(phone)
        if states is None:
            raise KeyError(f"phone {phone} has no HMM topology in the model")
        emitting = [st for st in states if st.forward_pdf_class >= 0]
        pdfs, jumps, linear = [], [], True
        for h, st in enumerate(emitting):
            fwd = self._pdf(ctx, window, st.forward_pdf_class)
            loop = self._pdf(ctx, window, st.self_loop_pdf_class)
            pdfs.append(fwd)
            ts = self.tstate.get((phone, h, fwd, loop))
            dests, probs = [], []
            for j, (dest, prob) in enumerate(st.transitions):
                if dest == h:
                    continue
                p = math.exp(self.log_probs[self.state2id[ts] + j]) if ts is not None else prob
                dests.append(dest)
                probs.append(p)
            pr = np.asarray(probs, dtype=np.float64)
            pr = pr / pr.sum() if pr.sum() > 0 else np.full(len(pr), 1.0 / len(pr))
            jumps.append((dests, pr))
            linear &= dests == [h + 1]
        return PhoneHmm(pdfs, jumps, linear)

    @staticmethod
    def _pdf(ctx, window: Tuple[int, ...], pdf_class: int) -> int:
        ok, pdf = ctx.compute(list(window), pdf_class)
        if not ok:
            raise KeyError(f"decision tree has no pdf for context {window} pdf-class {pdf_class}")
        return pdf


def iter_text(path: PathLike, has_keys: bool = False) -> Iterator[Tuple[int, List[str]]]:
    """(line number, words) for each non-empty line of a (possibly gzip'd) text file."""
    from kaldi_kd.lm.corpus import open_text

    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            words = line.split()[1 if has_keys else 0 :]
            if words:
                yield lineno, words


def iter_unit_sequences(path: PathLike, conv: TextToUnits, with_bounds: bool = False) -> Iterator[Tuple[int, object]]:
    """Stream (line number, unit ids) over a text file; (line number, (unit ids, group codes))
    with ``with_bounds``.

    Raises:
        ValueError: naming file and line when a word cannot be converted.
    """
    for lineno, words in iter_text(path, conv.cfg.has_keys):
        try:
            yield lineno, (conv.line(words, lineno) if with_bounds else conv(words, lineno))
        except KeyError as e:
            raise InputError(f"{path}:{lineno}: {e.args[0]}") from None


def write_unit_corpus(text: PathLike, out_dir: PathLike, conv: TextToUnits, valid_every: int = 20,
                      progress: bool = False) -> Tuple[int, int]:
    """Write ``units.txt``, ``train.txt.gz`` and ``valid.txt.gz`` (every ``valid_every``-th line),
    and the group codes beside them (``train.bounds.gz``, ``valid.bounds.gz``).

    Returns:
        (train sequences, valid sequences).
    """
    import gzip
    from contextlib import ExitStack

    from tqdm import tqdm

    from kaldi_kd.data.atomic import atomic_path
    from kaldi_kd.lm.corpus import write_vocab

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = [0, 0]
    names = ("train.txt.gz", "valid.txt.gz", "train.bounds.gz", "valid.bounds.gz")
    with ExitStack() as stack:
        tmps = [stack.enter_context(atomic_path(out / n)) for n in names]
        tr, va, tr_b, va_b = (stack.enter_context(gzip.open(t, "wt")) for t in tmps)
        seqs = iter_unit_sequences(text, conv, with_bounds=True)
        for lineno, (units, bounds) in tqdm(seqs, disable=not progress, desc=f"units {conv.level}", unit=" lines"):
            is_valid = valid_every > 0 and lineno % valid_every == 0
            (va if is_valid else tr).write(" ".join(map(str, units.tolist())) + "\n")
            (va_b if is_valid else tr_b).write("".join(map(str, bounds.tolist())) + "\n")
            counts[int(is_valid)] += 1
    write_vocab(out / "units.txt", conv.vocab.symbols)
    return counts[0], counts[1]
