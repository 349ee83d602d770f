"""The decoding n-gram LM: Kneser-Ney ARPA training, ARPA checks, ARPA -> G.fst.

Kaldi's recipe trains an ARPA LM and runs ``utils/format_lm.sh`` (``arpa2fst
--disambig-symbol=#0 --read-symbol-table=words.txt``) to get ``lang_test/G.fst``.
Here the ARPA is trained with kaldingram (SRILM-compatible interpolated-backoff
Kneser-Ney, ``ngram-count -ukndiscount``), checked by :func:`validate_arpa` (kaldilm
aborts the whole process on a bad ARPA), and converted by kaldilm.arpa2fst in a
child process so that any abort there becomes an :class:`ArpaError`.

Example:
    >>> make_lang_test("data/train/text", "data/lang", "data/lang_test", order=3,
    ...                text_has_ids=True)                       # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

from kaldi_kd.data.atomic import atomic_path, write_text_atomic
from kaldi_kd.gmm.symbols import LangError, read_symbol_table
from kaldi_kd.errors import KaldiKdError

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]


class ArpaError(KaldiKdError, ValueError):
    """A malformed ARPA file or a failed ARPA -> FST conversion (names file and line)."""


@dataclass
class NgramConfig:
    """make_G options."""

    order: int = 3
    text_has_ids: Optional[bool] = None  # None: yes for files named "text"
    check_lg: bool = True  # check that det(L_disambig o G) terminates


def read_lm_text(paths: Sequence[PathLike], words: Dict[str, int], oov_word: str,
                 has_ids: Optional[bool] = None) -> List[List[str]]:
    """Read LM training sentences, mapping words not in ``words`` to ``oov_word``.

    Args:
        paths: plain text files (one sentence per line) or Kaldi ``text`` files.
        words: words.txt as a dict.
        oov_word: the word that replaces out-of-vocabulary words.
        has_ids: skip the first field (utterance id); None = for files named ``text``.

    Returns:
        the sentences as word lists (empty lines dropped).
    """
    reserved = {"<eps>", "<s>", "</s>"}
    sents, n_oov, n_tok = [], 0, 0
    for path in map(Path, paths):
        if not path.is_file():
            raise LangError(f"expected LM text {path} to exist")
        skip = path.name == "text" if has_ids is None else has_ids
        for line in path.read_text(encoding="utf-8").splitlines():
            toks = line.split()[1 if skip else 0:]
            out = []
            for w in toks:
                if w in reserved or w.startswith("#") or w not in words:
                    w, n_oov = oov_word, n_oov + 1
                out.append(w)
            n_tok += len(out)
            if out:
                sents.append(out)
    logger.info("LM text: %d sentences, %d words, %d mapped to %s", len(sents), n_tok, n_oov, oov_word)
    return sents


def train_arpa(sentences: Iterable[Sequence[str]], order: int = 3) -> str:
    """Train a Kneser-Ney backoff ARPA n-gram LM with kaldingram.

    Returns:
        the ARPA text.
    """
    os.environ.setdefault("TQDM_DISABLE", "1")
    from kaldingram.train import NgramCounts

    counts = NgramCounts(order)
    for sent in sentences:
        counts.add_raw_counts_from_line(" ".join(sent))
    counts.cal_discounting_constants()
    counts.cal_f()
    counts.cal_bow()
    buf = io.StringIO()
    counts.print_as_arpa(fout=buf)
    return buf.getvalue()


def _parse_header(lines: List[str], path: str) -> tuple:
    """Parse ``\\data\\`` and the ``ngram N=count`` lines; return (counts, next line index)."""
    i = 0
    while i < len(lines) and lines[i].strip() != "\\data\\":
        i += 1
    if i == len(lines):
        raise ArpaError(f"{path}: no \\data\\ header")
    counts: Dict[int, int] = {}
    i += 1
    while i < len(lines) and lines[i].strip().startswith("ngram "):
        spec = lines[i].strip()[6:].split("=")
        try:
            n, c = int(spec[0]), int(spec[1])
        except (ValueError, IndexError):
            raise ArpaError(f"{path}:{i + 1}: bad header line {lines[i]!r}") from None
        if n != len(counts) + 1 or c < 0:
            raise ArpaError(f"{path}:{i + 1}: header orders must be 1, 2, ... with counts >= 0")
        counts[n] = c
        i += 1
    if not counts:
        raise ArpaError(f"{path}: no 'ngram N=count' lines after \\data\\")
    return counts, i


_ENTRY = " (an n-gram line is '<log10-prob> <w1> ... <wn> [<log10-backoff>]')"


def _check_entry(fields: List[str], n: int, top: bool, path: str, lineno: int) -> None:
    """One n-gram line: log10 prob, n words, optional backoff (not on the highest order)."""
    if len(fields) not in (n + 1, n + 2):
        raise ArpaError(f"{path}:{lineno}: expected log-prob, {n} words and an optional backoff{_ENTRY}")
    if len(fields) == n + 2 and top:
        raise ArpaError(f"{path}:{lineno}: backoff weight on a {n}-gram of the highest order{_ENTRY}")
    nums = [fields[0]] + ([fields[-1]] if len(fields) == n + 2 else [])
    for x in nums:
        try:
            v = float(x)
        except ValueError:
            raise ArpaError(f"{path}:{lineno}: {x!r} is not a number{_ENTRY}") from None
        if not math.isfinite(v):
            raise ArpaError(f"{path}:{lineno}: non-finite value {x!r}{_ENTRY}")
    if float(fields[0]) > 1e-6:
        raise ArpaError(f"{path}:{lineno}: log10 probability {fields[0]} > 0{_ENTRY}")


def validate_arpa(path: PathLike) -> Dict[int, int]:
    """Check an ARPA file before kaldilm sees it.

    Checks the header, that sections ``\\N-grams:`` come in order with as many entries
    as the header says, entry shapes, finite log-probabilities <= 0, no backoff weights
    on the highest order, ``<s>`` and ``</s>`` among the unigrams, and ``\\end\\``.

    Returns:
        order -> number of n-grams.

    Raises:
        ArpaError: naming the file and line.
    """
    p = str(path)
    if not Path(path).is_file():
        raise ArpaError(f"{p}: expected ARPA file to exist")
    if p.endswith(".gz"):
        import gzip

        with gzip.open(p, "rt", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    else:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    counts, i = _parse_header(lines, p)
    top = max(counts)
    unigrams = set()
    for n in range(1, top + 1):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines) or lines[i].strip() != f"\\{n}-grams:":
            raise ArpaError(f"{p}:{i + 1}: expected section \\{n}-grams:")
        i += 1
        seen = 0
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("\\"):
            fields = lines[i].split()
            _check_entry(fields, n, n == top, p, i + 1)
            if n == 1:
                unigrams.add(fields[1])
            seen += 1
            i += 1
        if seen != counts[n]:
            raise ArpaError(f"{p}: header says ngram {n}={counts[n]} but the \\{n}-grams: "
                            f"section has {seen} entries")
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != "\\end\\":
        raise ArpaError(f"{p}:{i + 1}: expected \\end\\")
    for sym in ("<s>", "</s>"):
        if sym not in unigrams:
            raise ArpaError(f"{p}: {sym} missing from the unigrams")
    return counts


_ARPA2FST = """
import sys
from kaldi_kd.kaldi.wheels import kaldilm
kaldilm.arpa2fst(sys.argv[1], sys.argv[2], disambig_symbol="#0", read_symbol_table=sys.argv[3],
                 max_arpa_warnings=-1)
"""


def arpa_to_G(arpa: PathLike, words_txt: PathLike, G_fst: PathLike, timeout: float = 3600) -> None:
    """Kaldi's ``arpa2fst --disambig-symbol=#0 --read-symbol-table=words.txt`` (kaldilm).

    The ARPA is validated first, and kaldilm runs in a child process (it aborts its
    process on errors).  ``G_fst`` is written atomically, ilabel-sorted.

    Raises:
        ArpaError: a bad ARPA (file and line) or a failed conversion (kaldilm's stderr).
    """
    validate_arpa(arpa)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with atomic_path(G_fst) as tmp:
        res = subprocess.run([sys.executable, "-c", _ARPA2FST, str(arpa), str(tmp), str(words_txt)],
                             capture_output=True, text=True, env=env, timeout=timeout)
        if res.returncode != 0 or not tmp.is_file():
            tail = "\n".join(res.stderr.strip().splitlines()[-5:])
            raise ArpaError(f"arpa2fst failed on {arpa} (exit {res.returncode}):\n{tail}")
        warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("[W]") or "WARNING" in ln]
        for w in warnings[:10]:
            logger.warning("arpa2fst: %s", w)
        if len(warnings) > 10:
            logger.warning("arpa2fst: ... %d warnings in all", len(warnings))


def check_lg_determinizable(lang_test: PathLike, max_states: int = 1_000_000) -> int:
    """Compose L_disambig.fst with G.fst and determinize (log semiring, like mkgraph).

    Returns:
        the number of states of det(LG).

    Raises:
        LangError: when determinization fails or exceeds ``max_states``.
    """
    from kaldi_kd.gmm.fstutils import read_fst
    from kaldi_kd.kaldi.wheels import kaldifst

    d = Path(lang_test)
    L, G = read_fst(d / "L_disambig.fst"), read_fst(d / "G.fst")
    kaldifst.arcsort(L, sort_type="olabel")
    kaldifst.arcsort(G, sort_type="ilabel")
    LG = kaldifst.compose(L, G)
    stopped_early = kaldifst.determinize_star(LG, max_states=max_states, use_log=True)
    if stopped_early:
        raise LangError(f"{d}: det(L_disambig o G) did not finish (> {max_states} states?): "
                        "missing disambiguation symbols?")
    return LG.num_states


def copy_lang(lang_dir: PathLike, lang_test: PathLike) -> None:
    """Copy a lang dir's files (not log/ or G.fst) into ``lang_test`` (format_lm.sh's cp -r)."""
    lang, out = Path(lang_dir), Path(lang_test)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() == lang.resolve():
        return
    for item in lang.iterdir():
        if item.name in ("log", "G.fst") or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, out / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, out / item.name)


def _finish_lang_test(out: Path, counts: Dict[int, int], check_lg: bool) -> Dict[str, int]:
    """Validate lang_test with its G.fst and collect statistics."""
    from kaldi_kd.gmm.fstutils import read_fst
    from kaldi_kd.gmm.lang import validate_lang

    validate_lang(out)
    G = read_fst(out / "G.fst")
    stats = {f"ngram_{n}": c for n, c in counts.items()}
    stats.update(G_states=G.num_states, G_arcs=sum(G.num_arcs(s) for s in range(G.num_states)))
    if check_lg:
        stats["det_LG_states"] = check_lg_determinizable(out)
    logger.info("lang_test %s: %s", out, " ".join(f"{k}={v}" for k, v in stats.items()))
    return stats


def make_lang_test(lm_text: Sequence[PathLike], lang_dir: PathLike, lang_test: PathLike,
                   config: Optional[NgramConfig] = None) -> Dict[str, int]:
    """Train an n-gram on ``lm_text`` and write ``lang_test`` = copy of ``lang_dir`` + G.fst.

    Also writes ``lang_test/lm.arpa`` (the trained ARPA, mapped to the lang's words).

    Returns:
        statistics: n-gram counts per order ("ngram_N"), G states/arcs, det(LG) states.
    """
    cfg = config or NgramConfig()
    lang, out = Path(lang_dir), Path(lang_test)
    words = read_symbol_table(lang / "words.txt")
    oov = (lang / "oov.txt").read_text().split()[0]
    sents = read_lm_text(lm_text, words, oov, cfg.text_has_ids)
    if not sents:
        raise LangError(f"no LM training sentences in {', '.join(map(str, lm_text))}")
    copy_lang(lang, out)
    write_text_atomic(out / "lm.arpa", train_arpa(sents, cfg.order))
    counts = validate_arpa(out / "lm.arpa")
    arpa_to_G(out / "lm.arpa", out / "words.txt", out / "G.fst")
    return _finish_lang_test(out, counts, cfg.check_lg)


def make_lang_test_from_arpa(arpa: PathLike, lang_dir: PathLike, lang_test: PathLike,
                             check_lg: bool = True) -> Dict[str, int]:
    """Kaldi's format_lm.sh for an existing ARPA (plain or .gz): lang_test = lang + G.fst.

    n-grams with words not in words.txt are skipped by arpa2fst (as in Kaldi).
    """
    arpa, out = Path(arpa), Path(lang_test)
    counts = validate_arpa(arpa)                 # before anything is written
    copy_lang(lang_dir, out)
    if arpa.suffix == ".gz":
        import gzip

        plain = out / "lm.arpa"
        with gzip.open(arpa, "rb") as src, atomic_path(plain) as tmp, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        arpa = plain
    arpa_to_G(arpa, out / "words.txt", out / "G.fst")
    return _finish_lang_test(out, counts, check_lg)
