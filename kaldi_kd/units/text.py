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
  silence being an ordinary context phone as in the graph) and each emitting HMM
  state's forward pdf-class → ``ContextDependency.compute`` → pdf-id.  One unit per
  HMM state: this equals the senone segments of a forced alignment on
  left-to-right topologies without skips (Kaldi's 5-state silence topology can
  revisit states, which text cannot predict);
- subword: sentencepiece pieces of each word, ``<sil>`` for silence.

Text is streamed line by line (generators), never loaded whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from kaldi_kd.units.lang_info import LangInfo
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
    """

    sil_prob: float = 0.5
    edge_sil_prob: float = 1.0
    pron_index: int = 0
    oov: str = "<unk>"
    seed: int = 1
    has_keys: bool = False


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
        lang: the lang dir's LangInfo.
        cfg: TextUnitsConfig.
        trans_model, ctx_dep: needed for "senone" (topology + tree).
        sp: a sentencepiece processor, needed for "subword".
    """

    def __init__(self, level: str, lang: LangInfo, cfg: TextUnitsConfig = TextUnitsConfig(),
                 trans_model=None, ctx_dep=None, sp=None) -> None:
        self.level, self.lang, self.cfg = level, lang, cfg
        self.ctx, self.sp = ctx_dep, sp
        if level == "senone":
            if trans_model is None or ctx_dep is None:
                raise ValueError("TextToUnits: level 'senone' needs trans_model and ctx_dep")
            self.vocab: UnitVocab = senone_vocab(trans_model.num_pdfs)
            topo = trans_model.topo
            self._classes = {p: [s.forward_pdf_class for s in topo.topology_for_phone(p) if s.forward_pdf_class >= 0]
                             for p in trans_model.phones}
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
    def senones(self, phones: Sequence[int]) -> List[int]:
        """pdf-id per HMM state of each phone, through the decision tree."""
        n, p = self.ctx.context_width, self.ctx.central_position
        padded = [0] * p + list(phones) + [0] * (n - 1 - p)
        out: List[int] = []
        for i, ph in enumerate(phones):
            window = tuple(padded[i : i + n])
            pdfs = self._cache.get(window)
            if pdfs is None:
                classes = self._classes.get(ph)
                if classes is None:
                    raise KeyError(f"phone {ph} has no HMM topology in the model")
                pdfs = []
                for c in classes:
                    ok, pdf = self.ctx.compute(list(window), c)
                    if not ok:
                        raise KeyError(f"decision tree has no pdf for context {window} pdf-class {c}")
                    pdfs.append(pdf)
                self._cache[window] = pdfs
            out.extend(pdfs)
        return out

    # ---- any level --------------------------------------------------------------
    def units(self, items: Sequence[Item]) -> np.ndarray:
        """int32 unit ids of a realised sentence at this converter's level."""
        if self.level == "senone":
            return np.asarray(self.senones(self.phones(items)), dtype=np.int32)
        if self.level == "monophone":
            return self._phone_map[np.asarray(self.phones(items), dtype=np.int64)].astype(np.int32)
        out: List[int] = []
        for it in items:
            out.extend([self.vocab.sil_id] if it is None else self.sp.encode(it, out_type=int))
        return np.asarray(out, dtype=np.int32)

    def __call__(self, words: Sequence[str], lineno: int) -> np.ndarray:
        return self.units(realise(words, self.cfg, line_rng(self.cfg, lineno)))


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
            raise ValueError(f"{path}:{lineno}: {e.args[0]}") from None


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
