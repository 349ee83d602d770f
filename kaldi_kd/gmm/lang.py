"""Kaldi lang dirs: the :class:`Lang` loader and :func:`validate_lang`.

A lang dir is what :func:`kaldi_kd.gmm.prepare_lang.prepare_lang` (re-exported
here) or Kaldi's ``utils/prepare_lang.sh`` writes.  :class:`Lang` gives the symbol
tables and phone lists as Python objects; :func:`validate_lang` makes the checks of
Kaldi's ``utils/validate_lang.pl`` that matter to the rest of the pipeline and
raises :class:`LangError` naming the file (and line) of the first problem.

Example:
    >>> lang = Lang("data/lang")                         # doctest: +SKIP
    >>> lang.words["zero"], lang.phone_names[lang.optional_silence]   # doctest: +SKIP
    (12, 'SIL')
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from kaldi_kd.gmm.fstutils import input_labels, is_sorted, iter_arcs, output_labels, read_fst
from kaldi_kd.gmm.prepare_lang import LangConfig, prepare_lang  # noqa: F401  (re-export)
from kaldi_kd.gmm.symbols import LangError, read_lines, read_symbol_table, to_ints

PathLike = Union[str, Path]
PHONE_LISTS = ("silence", "nonsilence", "optional_silence", "disambig", "context_indep")


def _read_int_list(path: Path) -> List[int]:
    """Read a one-int-per-line file (phones/*.int)."""
    out = []
    for n, row in enumerate(read_lines(path), 1):
        if len(row) != 1 or not row[0].isdigit():
            raise LangError(f"{path}:{n}: expected one integer per line, got {' '.join(row)!r}")
        out.append(int(row[0]))
    return out


def base_phone(phone: str) -> str:
    """Strip a word-position suffix: ``AA_B`` -> ``AA``; ``SIL`` -> ``SIL``."""
    return phone[:-2] if phone[-2:] in ("_B", "_E", "_I", "_S") else phone


class Lang:
    """A Kaldi lang dir loaded into memory.

    On load the text files are checked (:func:`validate_lang` without the FST checks,
    which parse every arc; ``check_fsts=True`` adds them, ``validate=False`` skips all).

    Attributes:
        dir: the lang dir.
        phones / words: symbol -> id (phones.txt / words.txt).
        phone_names / word_names: id -> symbol.
        silence, nonsilence, disambig, context_indep: phone ids (phones/*.int).
        optional_silence: the optional-silence phone id.
        wdisambig_phones / wdisambig_words: ids of ``#0`` in phones.txt / words.txt.
        sets: phones/sets.int rows; roots: (shared, split, phone ids) per phones/roots.int row.
        extra_questions: phones/extra_questions.int rows ([] if absent).
        word_boundary: phone id -> "begin"/"end"/"internal"/"singleton"/"nonword" ({} if absent).
        oov_word / oov_id: the OOV word and its id.
        base_phones: position-independent phone names in phones/sets order (sets' first
            members stripped), and ``phone_to_base`` phone id -> index into it.
        align_lexicon: word id -> pronunciations (phones/align_lexicon.int; read on first use).
    """

    def __init__(self, lang_dir: PathLike, validate: bool = True, check_fsts: bool = False) -> None:
        d = Path(lang_dir)
        if validate:  # the FSTs are checked by prepare_lang/make_G; here only on request
            validate_lang(d, check_fsts=check_fsts)
        self.dir = d
        self.phones = read_symbol_table(d / "phones.txt")
        self.words = read_symbol_table(d / "words.txt")
        self.phone_names = {i: s for s, i in self.phones.items()}
        self.word_names = {i: s for s, i in self.words.items()}
        lists = {n: _read_int_list(d / "phones" / f"{n}.int") for n in PHONE_LISTS}
        self.silence: List[int] = lists["silence"]
        self.nonsilence: List[int] = lists["nonsilence"]
        self.disambig: List[int] = lists["disambig"]
        self.context_indep: List[int] = lists["context_indep"]
        self.optional_silence: int = lists["optional_silence"][0]
        self.wdisambig_phones = self._ints_or("wdisambig_phones.int", [self.phones.get("#0", -1)])
        self.wdisambig_words = self._ints_or("wdisambig_words.int", [self.words.get("#0", -1)])
        self.sets = self._rows("sets")
        self.roots: List[Tuple[str, str, List[int]]] = [
            (r[0], r[1], [int(x) for x in r[2:]]) for r in read_lines(d / "phones" / "roots.int") if r]
        self.extra_questions = self._rows("extra_questions")
        wb = d / "phones" / "word_boundary.int"
        self.word_boundary: Dict[int, str] = (
            {int(r[0]): r[1] for r in read_lines(wb) if r} if wb.is_file() else {})
        self.oov_word = (d / "oov.txt").read_text().split()[0]
        self.oov_id = self.words[self.oov_word]
        self.base_phones: List[str] = [base_phone(self.phone_names[s[0]]) for s in self.sets]
        self.phone_to_base: Dict[int, int] = {p: k for k, s in enumerate(self.sets) for p in s}

    def _ints_or(self, name: str, default: List[int]) -> List[int]:
        path = self.dir / "phones" / name
        return _read_int_list(path) if path.is_file() else default

    def _rows(self, name: str) -> List[List[int]]:
        path = self.dir / "phones" / f"{name}.int"
        return [[int(x) for x in r] for r in read_lines(path) if r] if path.is_file() else []

    @property
    def topo_path(self) -> Path:
        return self.dir / "topo"

    def topology(self):
        """The ``topo`` file as a kaldi_hmm_gmm.HmmTopology."""
        return load_topology(self.topo_path)

    def lexicon_fst(self, disambig: bool = False):
        """L.fst (or L_disambig.fst) as a kaldifst.StdVectorFst."""
        return read_fst(self.dir / ("L_disambig.fst" if disambig else "L.fst"))

    def word_ids(self, words: Sequence[str], map_oov: bool = True) -> List[int]:
        """Map words to ids; unknown words -> the OOV id (or KeyError if not ``map_oov``)."""
        if map_oov:
            return [self.words.get(w, self.oov_id) for w in words]
        return [self.words[w] for w in words]

    def pronunciations(self) -> Dict[str, List[List[int]]]:
        """word -> its pronunciations as phone-id lists (phones/align_lexicon.txt, in order).

        Phones are the lang's (word-position-dependent) phones; map them through
        ``phone_to_base`` / ``base_phones`` for position-independent units.
        """
        out: Dict[str, List[List[int]]] = {}
        path = self.dir / "phones" / "align_lexicon.txt"
        for n, row in enumerate(read_lines(path), 1):
            if len(row) < 3:
                raise LangError(f"{path}:{n}: expected '<word> <word> <phone> ...'")
            if row[0] == "<eps>":
                continue
            out.setdefault(row[0], []).append([self.phones[p] for p in row[2:]])
        return out

    @cached_property
    def align_lexicon(self) -> Dict[int, List[Tuple[int, ...]]]:
        """word id -> its pronunciations as phone-id tuples, in file order (phones/align_lexicon.int).

        Raises:
            LangError: naming the file (and line) when it is missing or malformed.
        """
        path = self.dir / "phones" / "align_lexicon.int"
        lexicon: Dict[int, List[Tuple[int, ...]]] = {}
        for n, row in enumerate(read_lines(path), 1):
            if not row:
                continue
            if len(row) < 3 or not all(x.isdigit() for x in row) or int(row[0]) != int(row[1]):
                raise LangError(f"{path}:{n}: expected '<word-id> <word-id> <phone-id>...'")
            lexicon.setdefault(int(row[0]), []).append(tuple(int(x) for x in row[2:]))
        return lexicon

    def pronunciation(self, word: str, which: int = 0) -> Tuple[int, ...]:
        """The ``which``-th pronunciation (phone ids, align_lexicon.int) of ``word`` (the last if fewer).

        Raises:
            KeyError: naming the word when it is not in words.txt or has no pronunciation.
        """
        wid = self.words.get(word)
        if wid is None:
            raise KeyError(f"word '{word}' not in words.txt")
        prons = self.align_lexicon.get(wid)
        if not prons:
            raise KeyError(f"word '{word}' has no pronunciation in phones/align_lexicon.int")
        return prons[min(which, len(prons) - 1)]

    @property
    def position_dependent(self) -> bool:
        """Whether phones carry Kaldi's _B/_E/_I/_S word positions (phones/word_boundary.int exists)."""
        return bool(self.word_boundary)

    def real_phones(self) -> List[int]:
        """Phone ids other than <eps> and disambiguation symbols (silence + nonsilence), ascending."""
        return sorted(self.silence + self.nonsilence)

    @property
    def num_phones(self) -> int:
        """Number of real phones (silence + nonsilence; no <eps>, no disambig)."""
        return len(self.silence) + len(self.nonsilence)


def load_topology(path: PathLike):
    """Read a Kaldi text ``topo`` file into kaldi_hmm_gmm.HmmTopology.

    Raises:
        LangError: naming ``path`` when the wheel rejects it.
    """
    from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm

    path = Path(path)
    if not path.is_file():
        raise LangError(f"expected topology file {path} to exist")
    topo = kaldi_hmm_gmm.HmmTopology()
    try:
        topo.read(path.read_text())
    except Exception as e:
        raise LangError(f"{path}: not a valid Kaldi HMM topology ({e})") from None
    return topo


def _check_list(d: Path, name: str, phones: Dict[str, int]) -> List[int]:
    """Check phones/<name>.{txt,int,csl} agree with each other and phones.txt; return ids."""
    txt = d / "phones" / f"{name}.txt"
    rows = read_lines(txt)
    for n, r in enumerate(rows, 1):
        if len(r) != 1:
            raise LangError(f"{txt}:{n}: expected one phone per line")
    ids = [i[0] for i in to_ints(txt, rows, phones)]
    got = _read_int_list(d / "phones" / f"{name}.int")
    if got != ids:
        raise LangError(f"{d / 'phones' / (name + '.int')}: does not match {txt} through phones.txt")
    csl_path = d / "phones" / f"{name}.csl"
    if csl_path.is_file():
        csl = csl_path.read_text().strip()
        if csl != ":".join(map(str, ids)):
            raise LangError(f"{csl_path}: does not match {txt} through phones.txt")
    return ids


def _check_rows(d: Path, name: str, phones: Dict[str, int], first: int = 0) -> List[List[int]]:
    """Check phones/<name>.int is phones/<name>.txt mapped from field ``first``; return ints."""
    txt, intf = d / "phones" / f"{name}.txt", d / "phones" / f"{name}.int"
    rows = [r for r in read_lines(txt)]
    ints = to_ints(txt, rows, phones, first)
    got = read_lines(intf)
    want = [r[:first] + [str(i) for i in x] for r, x in zip(rows, ints)]
    if got != want:
        raise LangError(f"{intf}: does not match {txt} through phones.txt")
    return ints


def _check_symbols(d: Path) -> Tuple[Dict[str, int], Dict[str, int]]:
    """phones.txt and words.txt: readable, <eps> 0, word disambig and sentence symbols present."""
    phones = read_symbol_table(d / "phones.txt")
    words = read_symbol_table(d / "words.txt")
    for name, table in (("phones.txt", phones), ("words.txt", words)):
        if table.get("<eps>") != 0:
            raise LangError(f"{d / name}: <eps> must have id 0")
    for sym in ("#0", "<s>", "</s>"):
        if sym not in words:
            raise LangError(f"{d / 'words.txt'}: missing {sym}")
    if "#0" not in phones:
        raise LangError(f"{d / 'phones.txt'}: missing disambiguation symbol #0")
    return phones, words


def _check_phone_sets(d: Path, phones: Dict[str, int]) -> Dict[str, List[int]]:
    """The phone lists: consistent files, a partition of phones.txt, sane disambig names."""
    lists = {n: _check_list(d, n, phones) for n in PHONE_LISTS}
    sil, nonsil, dis = set(lists["silence"]), set(lists["nonsilence"]), set(lists["disambig"])
    if sil & nonsil or (sil | nonsil) & dis:
        raise LangError(f"{d / 'phones'}: silence, nonsilence and disambig lists overlap")
    everything = set(phones.values()) - {0}
    if sil | nonsil | dis != everything:
        missing = sorted(everything - (sil | nonsil | dis))[:5]
        raise LangError(f"{d / 'phones.txt'}: phones {missing} in no silence/nonsilence/disambig list")
    names = {i: s for s, i in phones.items()}
    for i in dis:
        if not names[i].startswith("#"):
            raise LangError(f"{d / 'phones/disambig.txt'}: {names[i]!r} is not a #-symbol")
    for i in sil | nonsil:
        if names[i].startswith("#"):
            raise LangError(f"{d / 'phones.txt'}: #-symbol {names[i]!r} is not in phones/disambig.txt")
    if len(lists["optional_silence"]) != 1 or lists["optional_silence"][0] not in sil:
        raise LangError(f"{d / 'phones/optional_silence.txt'}: expected one silence phone")
    sets = _check_rows(d, "sets", phones)
    flat = [p for s in sets for p in s]
    if sorted(flat) != sorted(sil | nonsil):
        raise LangError(f"{d / 'phones/sets.txt'}: must list every real phone exactly once")
    roots = _check_rows(d, "roots", phones, first=2)
    if sorted(p for r in roots for p in r) != sorted(sil | nonsil):
        raise LangError(f"{d / 'phones/roots.txt'}: must list every real phone exactly once")
    return lists


def _check_word_boundary(d: Path, phones: Dict[str, int], real: set) -> None:
    """phones/word_boundary.{txt,int}, when present: each real phone labelled once."""
    txt = d / "phones" / "word_boundary.txt"
    if not txt.is_file():
        return
    labels = {"nonword", "begin", "end", "internal", "singleton"}
    seen = {}
    for n, r in enumerate(read_lines(txt), 1):
        if len(r) != 2 or r[1] not in labels or r[0] not in phones:
            raise LangError(f"{txt}:{n}: expected '<phone> <{'|'.join(sorted(labels))}>'")
        seen[phones[r[0]]] = r[1]
    if set(seen) != real:
        raise LangError(f"{txt}: must label every real phone exactly once")
    got = {int(r[0]): r[1] for r in read_lines(d / "phones" / "word_boundary.int") if r}
    if got != seen:
        raise LangError(f"{d / 'phones/word_boundary.int'}: does not match {txt}")


def _check_topo(d: Path, real: set) -> None:
    """topo loads and covers exactly the real phones."""
    topo = load_topology(d / "topo")
    in_topo = set(topo.phones)
    if in_topo != real:
        extra, missing = sorted(in_topo - real)[:5], sorted(real - in_topo)[:5]
        raise LangError(f"{d / 'topo'}: phones not matching phones.txt (missing {missing}, "
                        f"unknown {extra})")


def _check_lexicon_fsts(d: Path, phones: Dict[str, int], words: Dict[str, int],
                        lists: Dict[str, List[int]]) -> None:
    """L.fst / L_disambig.fst: readable, olabel-sorted, labels from the symbol tables."""
    real = set(lists["silence"]) | set(lists["nonsilence"])
    dis = set(lists["disambig"])
    word_ids = set(words.values())
    for name, allowed in (("L.fst", real | {0}), ("L_disambig.fst", real | dis | {0})):
        fst = read_fst(d / name)
        if fst.num_states == 0 or fst.start < 0:
            raise LangError(f"{d / name}: empty FST (no start state)")
        if not is_sorted(fst, "olabel"):
            raise LangError(f"{d / name}: arcs not sorted on output labels (fstarcsort --sort_type=olabel)")
        bad_in = input_labels(fst) - allowed
        if bad_in:
            raise LangError(f"{d / name}: input labels {sorted(bad_in)[:5]} are not allowed phones")
        bad_out = output_labels(fst) - word_ids
        if bad_out:
            raise LangError(f"{d / name}: output labels {sorted(bad_out)[:5]} not in words.txt")
        if name == "L_disambig.fst":
            loops = [a for a in iter_arcs(fst) if a.src == a.dst and a.ilabel == phones["#0"]]
            if not loops or loops[0].olabel != words["#0"]:
                raise LangError(f"{d / name}: no #0:#0 self-loop (for G's backoff arcs)")


def validate_lang(lang_dir: PathLike, check_fsts: bool = True, check_G: bool = True) -> None:
    """Check a lang dir as Kaldi's utils/validate_lang.pl would (the parts we rely on).

    Checks: symbol tables (ids/symbols unique, <eps>=0, #0 <s> </s>); phones/*.{txt,int,
    csl} agree; silence/nonsilence/disambig partition phones.txt; sets/roots cover
    every real phone once; word_boundary; oov.{txt,int}; topo loads and covers
    exactly the real phones; L.fst / L_disambig.fst readable, olabel-sorted, labels
    in the tables, #0 self-loop in L_disambig.fst (``check_fsts``); G.fst if present
    (labels in words.txt, no <s>/</s> on its input; ``check_fsts`` and ``check_G``).

    Raises:
        LangError: naming the file (and line) of the first problem.
    """
    d = Path(lang_dir)
    if not d.is_dir():
        raise LangError(f"expected lang dir {d} to exist")
    phones, words = _check_symbols(d)
    lists = _check_phone_sets(d, phones)
    real = set(lists["silence"]) | set(lists["nonsilence"])
    _check_word_boundary(d, phones, real)
    oov = read_lines(d / "oov.txt")
    if not oov or len(oov[0]) != 1 or oov[0][0] not in words:
        raise LangError(f"{d / 'oov.txt'}: expected one word of words.txt")
    if _read_int_list(d / "oov.int") != [words[oov[0][0]]]:
        raise LangError(f"{d / 'oov.int'}: does not match oov.txt through words.txt")
    _check_topo(d, real)
    if check_fsts:
        _check_lexicon_fsts(d, phones, words, lists)
        if check_G and (d / "G.fst").is_file():
            g = read_fst(d / "G.fst")
            bad = (input_labels(g) | output_labels(g)) - set(words.values())
            if bad:
                raise LangError(f"{d / 'G.fst'}: labels {sorted(bad)[:5]} not in words.txt")
            if words["<s>"] in input_labels(g) or words["</s>"] in input_labels(g):
                raise LangError(f"{d / 'G.fst'}: <s> or </s> on arcs (should be removed)")
