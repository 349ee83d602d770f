"""Build the LM training text: normalised, deduplicated sentences from offline sources.

Layout of ``out_dir`` (written by :func:`build_lm_text`):

    sources/<name>.txt.gz   normalised sentences of one source (cached; a rerun reuses it)
    excluded.txt            sentences kept out (dev/test prompts; see exclude_from_lm_text)
    lm_text.txt.gz          all sources merged: one sentence per line, each sentence once,
                            excluded sentences (dev/test prompts) removed
    word_counts.json        per-source sentences and words (normalised, kept after merge)
    config.yaml             the :class:`LMTextConfig` used
    log/prepare_lm_text.log

Example:
    >>> counts = build_lm_text("data/local/lm", LMTextConfig())   # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Set, Union

import yaml

from kaldi_kd.corpus.lm_sources import SOURCES, SourceConfig, SourceUnavailable
from kaldi_kd.corpus.normalize import text_to_sentences
from kaldi_kd.data.atomic import atomic_path
from kaldi_kd.errors import InputError

log = logging.getLogger(__name__)
PathLike = Union[str, Path]


@dataclass
class LMTextConfig:
    """Options of the LM text build (every default here).

    Attributes:
        sources: source names (see ``kaldi_kd.corpus.lm_sources.SOURCES``), in merge order.
        min_words / max_words: sentence length limits in words.
        min_total_words: warn when the merged text is smaller.
        source: where the packages' files are.
    """

    sources: List[str] = field(default_factory=lambda: ["harvard", "kjv", "web", "fortunes",
                                                        "sotu", "moby_dick"])
    min_words: int = 3
    max_words: int = 50
    min_total_words: int = 3_000_000
    source: SourceConfig = field(default_factory=SourceConfig)


def open_text_gz_write(path: Path) -> io.TextIOWrapper:
    """A gzip text writer with a fixed header (mtime 0), so equal text gives equal bytes."""
    raw = open(path, "wb")
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    writer = io.TextIOWrapper(gz, encoding="utf-8")
    writer._kd_raw = raw  # type: ignore[attr-defined]  # closed by close_text_gz
    return writer


def close_text_gz(writer: io.TextIOWrapper) -> None:
    raw = writer._kd_raw  # type: ignore[attr-defined]
    writer.close()
    raw.close()


def read_sentences(path: PathLike) -> Iterator[str]:
    """Lines of a text file or ``.gz`` file, stripped, empty lines skipped."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield line


def write_sentences(path: PathLike, sentences: Iterable[str]) -> int:
    """Write one sentence per line (gzip if ``path`` ends in .gz), atomically; return the count."""
    n = 0
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            f = open_text_gz_write(tmp)
            try:
                for s in sentences:
                    f.write(s + "\n")
                    n += 1
            finally:
                close_text_gz(f)
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                for s in sentences:
                    f.write(s + "\n")
                    n += 1
    return n


def source_sentences(name: str, cfg: LMTextConfig) -> Iterator[str]:
    """Normalised sentences of source ``name`` (raises SourceUnavailable)."""
    if name not in SOURCES:
        raise InputError(f"unknown LM text source '{name}' (known: {', '.join(SOURCES)})")
    for chunk in SOURCES[name](cfg.source):
        for words in text_to_sentences(chunk, cfg.min_words, cfg.max_words):
            yield " ".join(words)


def extract_source(name: str, out_dir: Path, cfg: LMTextConfig) -> Optional[Path]:
    """Write ``sources/<name>.txt.gz`` unless it exists; None when the source is unavailable."""
    path = out_dir / "sources" / f"{name}.txt.gz"
    if path.is_file():
        log.info("source %s: reusing %s", name, path)
        return path
    try:
        n = write_sentences(path, source_sentences(name, cfg))
    except SourceUnavailable as err:
        log.warning("source %s skipped: %s", name, err)
        return None
    log.info("source %s: %d sentences -> %s", name, n, path)
    return path


def merge_lm_text(out_dir: PathLike, sources: List[str],
                  exclude: Optional[Set[str]] = None) -> Dict[str, Dict[str, int]]:
    """Merge ``sources/<name>.txt.gz`` into ``lm_text.txt.gz``: each sentence once (first
    source wins), sentences in ``exclude`` dropped. Writes ``word_counts.json``.

    Args:
        out_dir: the LM text directory.
        sources: source names in merge order (missing files are skipped).
        exclude: normalised sentences to leave out (e.g. test prompts).
    Returns:
        name -> {sentences, words, kept_sentences, kept_words}, plus "total".
    """
    out_dir, exclude = Path(out_dir), exclude or set()
    seen: Set[str] = set()
    counts: Dict[str, Dict[str, int]] = {}

    def merged() -> Iterator[str]:
        for name in sources:
            path = out_dir / "sources" / f"{name}.txt.gz"
            if not path.is_file():
                continue
            c = counts.setdefault(name, dict(sentences=0, words=0, kept_sentences=0,
                                             kept_words=0, excluded=0))
            for s in read_sentences(path):
                n = s.count(" ") + 1
                c["sentences"] += 1
                c["words"] += n
                if s in exclude:
                    c["excluded"] += 1
                elif s not in seen:
                    seen.add(s)
                    c["kept_sentences"] += 1
                    c["kept_words"] += n
                    yield s

    write_sentences(out_dir / "lm_text.txt.gz", merged())
    counts["total"] = {k: sum(c[k] for c in list(counts.values())) for k in
                       ("sentences", "words", "kept_sentences", "kept_words", "excluded")}
    with atomic_path(out_dir / "word_counts.json") as tmp:
        tmp.write_text(json.dumps(counts, indent=1) + "\n")
    return counts


def exclude_from_lm_text(out_dir: PathLike, exclude: Set[str]) -> Dict[str, Dict[str, int]]:
    """Re-merge ``out_dir``'s cached sources into ``lm_text.txt.gz`` without ``exclude``
    (sources in the order of ``out_dir/config.yaml``) and save the list as ``excluded.txt``.

    Raises:
        FileNotFoundError: naming ``config.yaml`` when the LM text was never built.
    """
    out_dir = Path(out_dir)
    conf = out_dir / "config.yaml"
    if not conf.is_file():
        raise FileNotFoundError(f"{conf}: expected file to exist (run prepare_lm_text.py first)")
    sources = yaml.safe_load(conf.read_text())["sources"]
    write_sentences(out_dir / "excluded.txt", sorted(exclude))
    counts = merge_lm_text(out_dir, sources, exclude)
    log.info("%s: %d excluded sentences removed, %d words left", out_dir / "lm_text.txt.gz",
             counts["total"]["excluded"], counts["total"]["kept_words"])
    return counts


def read_exclude(path: Optional[PathLike]) -> Set[str]:
    """Normalised sentences of an exclusion list (one per line; ``<utt-id> words`` also
    accepted when the first token is not uppercase). Missing/None -> empty set."""
    if not path or not Path(path).is_file():
        return set()
    out = set()
    for line in read_sentences(path):
        first, _, rest = line.partition(" ")
        out.add(rest if rest and first != first.upper() else line)
    return out


def build_lm_text(out_dir: PathLike, cfg: LMTextConfig,
                  exclude_file: Optional[PathLike] = None) -> Dict[str, Dict[str, int]]:
    """Extract every configured source (reusing cached ones) and merge them.

    Args:
        out_dir: output directory (created).
        cfg: the build options; saved as ``config.yaml``.
        exclude_file: optional list of sentences to keep out of the LM text (in addition
            to ``out_dir/excluded.txt`` left by an earlier corpus build).
    Returns:
        the word counts of :func:`merge_lm_text`.
    """
    out_dir = Path(out_dir)
    (out_dir / "log").mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(asdict(cfg), sort_keys=False))
    start = time.time()
    for name in cfg.sources:
        extract_source(name, out_dir, cfg)
    # a rerun keeps out what make_synth_corpus excluded earlier (out_dir/excluded.txt)
    exclude = read_exclude(exclude_file) | read_exclude(out_dir / "excluded.txt")
    counts = merge_lm_text(out_dir, cfg.sources, exclude)
    for name, c in counts.items():
        log.info("%-10s sentences %8d words %9d kept sentences %8d kept words %9d excluded %d",
                 name, c["sentences"], c["words"], c["kept_sentences"], c["kept_words"], c["excluded"])
    total = counts["total"]["kept_words"]
    log.info("lm_text.txt.gz: %d words in %.1f s", total, time.time() - start)
    if total < cfg.min_total_words:
        log.warning("LM text has %d words, fewer than the %d wanted", total, cfg.min_total_words)
    return counts


def word_counts(path: PathLike) -> Dict[str, int]:
    """Word -> count over a sentence file (.gz or plain)."""
    counts: Dict[str, int] = {}
    for s in read_sentences(path):
        for w in s.split():
            counts[w] = counts.get(w, 0) + 1
    return counts
