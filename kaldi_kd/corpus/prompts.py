"""Prompts for the synthesised read-speech corpus: Harvard sentences + LM-text sentences.

Prompts are normalised exactly like the LM text (uppercase words), so a test prompt can
be found and removed from the LM text by string equality. Selection is deterministic
from the seed and independent of the training size: the test prompts are drawn first,
then dev, then train, so asking for more training hours never changes dev/test.

Example:
    >>> pool = PromptPool.load("data/local/lm", PromptConfig())          # doctest: +SKIP
    >>> test = pool.take("test", 300)                                    # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Union

from kaldi_kd.corpus.lm_sources import SourceConfig, SourceUnavailable, harvard_sentences
from kaldi_kd.corpus.lm_text import read_sentences
from kaldi_kd.corpus.normalize import normalize_sentence
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, Path]
log = logging.getLogger(__name__)


@dataclass
class PromptConfig:
    """How prompts are chosen.

    Attributes:
        seed: random seed of the selection.
        min_words / max_words: prompt length limits (LM-text sentences).
        sources: LM-text sources (``<lm-dir>/sources/<name>.txt.gz``) prompts are sampled from.
        harvard_fraction: share of each set's prompts taken from the Harvard sentences
            (each Harvard sentence goes to one set only).
    """

    seed: int = 1
    min_words: int = 5
    max_words: int = 20
    sources: List[str] = field(default_factory=lambda: ["sotu", "moby_dick", "web", "kjv"])
    harvard_fraction: float = 0.3


class PromptError(KaldiKdError, RuntimeError):
    """Not enough prompts; the message says where they were looked for."""


class PromptPool:
    """Two shuffled streams (Harvard, LM text) consumed set by set, without replacement.

    Training may run past the end of both streams; it then cycles through the sentences
    it was given (never through dev/test ones).
    """

    def __init__(self, harvard: List[str], lm: List[str], cfg: PromptConfig):
        rng = random.Random(f"{cfg.seed}-prompts")
        self.cfg = cfg
        self.harvard = list(harvard)
        hset = set(harvard)
        self.lm = [s for s in dict.fromkeys(lm) if s not in hset]
        rng.shuffle(self.harvard)
        rng.shuffle(self.lm)
        self._pos = {"harvard": 0, "lm": 0}
        self.used: Dict[str, List[str]] = {}

    @classmethod
    def load(cls, lm_dir: PathLike, cfg: PromptConfig, source_cfg: SourceConfig = SourceConfig()) -> "PromptPool":
        """Harvard sentences (r-cran-stringr) + ``cfg.sources`` sentences of ``lm_dir``.

        Raises:
            PromptError: when no source file of ``cfg.sources`` exists in ``lm_dir/sources``.
        """
        try:
            harvard = [normalize_sentence(s) for s in harvard_sentences(source_cfg)]
        except SourceUnavailable:
            harvard = []
        harvard = [s for s in dict.fromkeys(harvard) if s]
        files = [Path(lm_dir) / "sources" / f"{n}.txt.gz" for n in cfg.sources]
        present = [f for f in files if f.is_file()]
        if not present and not harvard:
            raise PromptError(f"no prompt sources: none of {', '.join(map(str, files))} exist "
                              f"and the Harvard sentences are unavailable (run prepare_lm_text.py first)")
        lm = [s for f in present for s in read_sentences(f)
              if cfg.min_words <= s.count(" ") + 1 <= cfg.max_words]
        return cls(harvard, lm, cfg)

    def _draw(self, i: int) -> Optional[str]:
        """The i-th prompt of a set: from Harvard when the running share asks for it,
        from the other stream when one runs dry; None when both are exhausted."""
        f = self.cfg.harvard_fraction
        use_h = math.floor((i + 1) * f) > math.floor(i * f)
        for stream in (("harvard", "lm") if use_h else ("lm", "harvard")):
            items = self.harvard if stream == "harvard" else self.lm
            if self._pos[stream] < len(items):
                self._pos[stream] += 1
                return items[self._pos[stream] - 1]
        return None

    def stream(self, name: str, cycle: bool = False) -> Iterator[str]:
        """Prompts for set ``name``, drawn one at a time (never given to another set).

        Args:
            cycle: when the pool is exhausted, repeat this set's own prompts (training);
                otherwise the stream just ends.
        """
        given: List[str] = self.used.setdefault(name, [])
        while True:
            s = self._draw(len(given))
            if s is None:
                break
            given.append(s)
            yield s
        if cycle:
            log.warning("%s: prompt pool exhausted after %d prompts; reusing them", name, len(given))
            yield from itertools.cycle(list(given))

    def take(self, name: str, num: int) -> List[str]:
        """The next ``num`` prompts of set ``name``.

        Raises:
            PromptError: when the pool runs out.
        """
        out = list(itertools.islice(self.stream(name), num))
        if len(out) < num:
            raise PromptError(f"{name}: only {len(out)} prompts left, {num} wanted "
                              f"({len(self.harvard)} Harvard, {len(self.lm)} LM-text sentences)")
        return out
