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

    def senones(self, phones: Sequence[int], rng: Optional[np.random.Generator] = None) -> List[int]:
        """pdf-id per visited HMM state of each phone, through the decision tree.

        Args:
            phones: realised phone ids.
            rng: generator for ``hmm_path="sample"``; None visits every state once.
        """
        n, p = self.ctx.context_width, self.ctx.central_position
        padded = [0] * p + list(phones) + [0] * (n - 1 - p)
        sample = rng is not None and self.cfg.hmm_path == "sample"
        out: List[int] = []
        for i in range(len(phones)):
            hmm = self.phone_hmm(tuple(padded[i : i + n]))
            out.extend(hmm.sample(rng) if sample and not hmm.linear else hmm.pdfs)
        return out

    # ---- any level --------------------------------------------------------------
    def units(self, items: Sequence[Item], rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """int32 unit ids of a realised sentence at this converter's level (rng: see senones)."""
        if self.level == "senone":
            return np.asarray(self.senones(self.phones(items), rng), dtype=np.int32)
        if self.level == "monophone":
            return self._phone_map[np.asarray(self.phones(items), dtype=np.int64)].astype(np.int32)
        out: List[int] = []
        for it in items:
            out.extend([self.vocab.sil_id] if it is None else self.sp.encode(it, out_type=int))
        return np.asarray(out, dtype=np.int32)

    def __call__(self, words: Sequence[str], lineno: int) -> np.ndarray:
        """Units of one text line: silences, then (senone level) HMM paths, from the line's seed."""
        rng = line_rng(self.cfg, lineno)
        return self.units(realise(words, self.cfg, rng), rng)


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


def iter_unit_sequences(path: PathLike, conv: TextToUnits) -> Iterator[Tuple[int, np.ndarray]]:
    """Stream (line number, unit ids) over a text file.

    Raises:
        ValueError: naming file and line when a word cannot be converted.
    """
    for lineno, words in iter_text(path, conv.cfg.has_keys):
        try:
            yield lineno, conv(words, lineno)
        except KeyError as e:
            raise InputError(f"{path}:{lineno}: {e.args[0]}") from None


def write_unit_corpus(text: PathLike, out_dir: PathLike, conv: TextToUnits, valid_every: int = 20,
                      progress: bool = False) -> Tuple[int, int]:
    """Write ``units.txt``, ``train.txt.gz`` and ``valid.txt.gz`` (every ``valid_every``-th line).

    Returns:
        (train sequences, valid sequences).
    """
    import gzip

    from tqdm import tqdm

    from kaldi_kd.data.atomic import atomic_path
    from kaldi_kd.lm.corpus import write_vocab

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = [0, 0]
    with atomic_path(out / "train.txt.gz") as tr_tmp, atomic_path(out / "valid.txt.gz") as va_tmp:
        with gzip.open(tr_tmp, "wt") as tr, gzip.open(va_tmp, "wt") as va:
            seqs = iter_unit_sequences(text, conv)
            for lineno, units in tqdm(seqs, disable=not progress, desc=f"units {conv.level}", unit=" lines"):
                is_valid = valid_every > 0 and lineno % valid_every == 0
                (va if is_valid else tr).write(" ".join(map(str, units.tolist())) + "\n")
                counts[int(is_valid)] += 1
    write_vocab(out / "units.txt", conv.vocab.symbols)
    return counts[0], counts[1]
