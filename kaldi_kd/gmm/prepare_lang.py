"""Kaldi's ``utils/prepare_lang.sh``: dict dir -> lang dir (phones, words, topo, L.fst).

What is written, and in which order symbols are numbered, follows prepare_lang.sh
with its defaults (``--position-dependent-phones true``, ``--share-silence-phones
false``, ``--sil-prob 0.5``, 3-state non-silence and 5-state silence HMMs, one extra
phone disambiguation symbol):

- ``phones.txt``: ``<eps>``, silence phones (``SIL SIL_B SIL_E SIL_I SIL_S ...``),
  non-silence phones (``AA_B AA_E AA_I AA_S ...``), ``#0 .. #N``;
- ``words.txt``: ``<eps>``, the lexicon words in C sort order, ``#0``, ``<s>``, ``</s>``;
- ``L.fst`` / ``L_disambig.fst``: utils/lang/make_lexicon_fst.py's lexicon transducer
  (start state, loop state, silence state, optional silence with ``--sil-prob``),
  the disambiguation version with add_lex_disambig.pl's ``#1..`` on homophones and
  prefixes, ``#N`` after the optional silence and a ``#0:#0`` self-loop for G's
  backoff arcs; both olabel-sorted OpenFST binaries;
- ``topo`` (utils/gen_topo.pl), ``oov.{txt,int}``, ``phones/*.{txt,int,csl}``.

Example:
    >>> prepare_lang("data/local/dict", "<UNK>", "data/lang")   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.gmm.symbols import LangError, read_lines, to_ints, write_ints, write_symbol_table

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
Entry = Tuple[str, float, Tuple[str, ...]]  # word, pronunciation probability, phones
POSITIONS = ("_B", "_E", "_I", "_S")
RESERVED_WORDS = ("<eps>", "<s>", "</s>", "#0")


@dataclass
class LangConfig:
    """prepare_lang options (Kaldi's defaults)."""

    position_dependent_phones: bool = True
    sil_prob: float = 0.5
    num_sil_states: int = 5
    num_nonsil_states: int = 3
    num_extra_phone_disambig_syms: int = 1


@dataclass
class DictDir:
    """A Kaldi dict dir in memory (lines of silence/nonsilence phones share a root)."""

    lexicon: List[Entry]
    silence: List[List[str]]
    nonsilence: List[List[str]]
    optional_silence: str
    extra_questions: List[List[str]]


def _read_lexicon(dict_dir: Path) -> List[Entry]:
    """Read lexiconp.txt (word prob phones) if present, else lexicon.txt (prob 1.0)."""
    with_probs = (dict_dir / "lexiconp.txt").is_file()
    path = dict_dir / ("lexiconp.txt" if with_probs else "lexicon.txt")
    entries = []
    for n, row in enumerate(read_lines(path), 1):
        if with_probs:
            try:
                prob = float(row[1])
            except (IndexError, ValueError):
                raise LangError(f"{path}:{n}: expected '<word> <prob> <phones>'") from None
            if not 0.0 < prob <= 1.0:
                raise LangError(f"{path}:{n}: pronunciation probability {prob} not in (0, 1]")
            word, phones = row[0], row[2:]
        else:
            word, prob, phones = (row[0] if row else ""), 1.0, row[1:]
        if not phones:
            raise LangError(f"{path}:{n}: empty pronunciation for {word!r}")
        if word in RESERVED_WORDS:
            raise LangError(f"{path}:{n}: reserved word {word!r} in the lexicon")
        entries.append((word, prob, tuple(phones)))
    if not entries:
        raise LangError(f"{path}: empty lexicon")
    return entries


def read_dict_dir(dict_dir: PathLike) -> DictDir:
    """Read and check a Kaldi dict dir (Kaldi's validate_dict_dir.pl checks).

    Raises:
        LangError: naming the file and line of the first problem.
    """
    d = Path(dict_dir)
    sil = [r for r in read_lines(d / "silence_phones.txt") if r]
    nonsil = [r for r in read_lines(d / "nonsilence_phones.txt") if r]
    opt = [r for r in read_lines(d / "optional_silence.txt") if r]
    extra = [r for r in read_lines(d / "extra_questions.txt") if r] \
        if (d / "extra_questions.txt").is_file() else []
    seen: Dict[str, str] = {}
    for name, rows in (("silence_phones.txt", sil), ("nonsilence_phones.txt", nonsil)):
        for n, row in enumerate(rows, 1):
            for p in row:
                if p in seen:
                    raise LangError(f"{d / name}:{n}: phone {p!r} already listed in {seen[p]}")
                if p.startswith("#") or p == "<eps>" or p.endswith(POSITIONS):
                    raise LangError(f"{d / name}:{n}: phone name {p!r} not allowed")
                seen[p] = name
    if len(opt) != 1 or len(opt[0]) != 1 or seen.get(opt[0][0]) != "silence_phones.txt":
        raise LangError(f"{d / 'optional_silence.txt'}: expected one phone from silence_phones.txt")
    for n, row in enumerate(extra, 1):
        for p in row:
            if p not in seen:
                raise LangError(f"{d / 'extra_questions.txt'}:{n}: unknown phone {p!r}")
    lexicon = _read_lexicon(d)
    lex_name = "lexiconp.txt" if (d / "lexiconp.txt").is_file() else "lexicon.txt"
    for n, (word, _, phones) in enumerate(lexicon, 1):
        for p in phones:
            if p not in seen:
                raise LangError(f"{d / lex_name}:{n}: phone {p!r} of {word!r} not in "
                                "silence_phones.txt or nonsilence_phones.txt (add it to "
                                "nonsilence_phones.txt, or fix the pronunciation)")
    return DictDir(lexicon, sil, nonsil, opt[0][0], extra)


def phone_map(dct: DictDir, position_dependent: bool) -> Dict[str, List[str]]:
    """Kaldi's phone_map.txt: each dict phone -> its lang phones (silence keeps a bare copy)."""
    out: Dict[str, List[str]] = {}
    for row in dct.silence:
        for p in row:
            out[p] = [p] + [p + s for s in POSITIONS] if position_dependent else [p]
    for row in dct.nonsilence:
        for p in row:
            out[p] = [p + s for s in POSITIONS] if position_dependent else [p]
    return out


def add_word_positions(lexicon: Sequence[Entry]) -> List[Entry]:
    """Mark phones by word position: ``_S`` alone, else ``_B``, ``_I``..., ``_E``."""
    out = []
    for word, prob, phones in lexicon:
        if len(phones) == 1:
            pos = (phones[0] + "_S",)
        else:
            pos = (phones[0] + "_B",) + tuple(p + "_I" for p in phones[1:-1]) + (phones[-1] + "_E",)
        out.append((word, prob, pos))
    return out


def add_lex_disambig(lexicon: Sequence[Entry]) -> Tuple[List[Entry], int]:
    """Kaldi's add_lex_disambig.pl: append ``#k`` to homophones and to prefixes of other prons.

    Returns:
        (lexicon with disambiguation symbols, highest ``k`` used (0 if none)).
    """
    count: Dict[Tuple[str, ...], int] = {}
    prefixes = set()
    for _, _, phones in lexicon:
        count[phones] = count.get(phones, 0) + 1
        for i in range(1, len(phones)):
            prefixes.add(phones[:i])
    last: Dict[Tuple[str, ...], int] = {}
    max_disambig = 0
    out = []
    for word, prob, phones in lexicon:
        if count[phones] == 1 and phones not in prefixes:
            out.append((word, prob, phones))
            continue
        k = last.get(phones, 0) + 1
        last[phones] = k
        max_disambig = max(max_disambig, k)
        out.append((word, prob, phones + (f"#{k}",)))
    return out, max_disambig


def gen_topo(nonsil: Sequence[int], sil: Sequence[int], num_nonsil_states: int = 3,
             num_sil_states: int = 5) -> str:
    """Kaldi's utils/gen_topo.pl: left-to-right non-silence HMM, ergodic-ish silence HMM."""
    lines = ["<Topology>", "<TopologyEntry>", "<ForPhones>", " ".join(map(str, nonsil)),
             "</ForPhones>"]
    for s in range(num_nonsil_states):
        lines.append(f"<State> {s} <PdfClass> {s} <Transition> {s} 0.75 <Transition> {s + 1} 0.25 </State>")
    lines += [f"<State> {num_nonsil_states} </State>", "</TopologyEntry>", "<TopologyEntry>",
              "<ForPhones>", " ".join(map(str, sil)), "</ForPhones>"]
    if num_sil_states > 1:
        tp = 1.0 / (num_sil_states - 1)
        first = " ".join(f"<Transition> {t} {tp}" for t in range(num_sil_states - 1))
        lines.append(f"<State> 0 <PdfClass> 0 {first} </State>")
        mid = " ".join(f"<Transition> {t} {tp}" for t in range(1, num_sil_states))
        for s in range(1, num_sil_states - 1):
            lines.append(f"<State> {s} <PdfClass> {s} {mid} </State>")
        last = num_sil_states - 1
        lines.append(f"<State> {last} <PdfClass> {last} <Transition> {last} 0.75 "
                     f"<Transition> {num_sil_states} 0.25 </State>")
    else:
        lines.append("<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>")
    lines += [f"<State> {max(num_sil_states, 1)} </State>", "</TopologyEntry>", "</Topology>"]
    return "\n".join(lines) + "\n"


def make_lexicon_fst(lexicon: Sequence[Entry], phones: Dict[str, int], words: Dict[str, int],
                     sil_prob: float, sil_phone: Optional[str], sil_disambig: Optional[str] = None):
    """Kaldi's utils/lang/make_lexicon_fst.py as a kaldifst.StdVectorFst (olabel-sorted).

    States: 0 start, 1 loop (final; words start and end here), 2 silence (when
    ``sil_prob > 0``): each word ends in the loop state with cost -log(1-sil_prob) or
    in the silence state with cost -log(sil_prob), which returns to the loop state
    through ``sil_phone`` (then ``sil_disambig`` if given).
    """
    from kaldi_kd.kaldi.wheels import kaldifst

    fst = kaldifst.StdVectorFst()
    use_sil = sil_prob > 0.0 and sil_phone is not None
    if use_sil and not sil_prob < 1.0:
        raise LangError(f"sil_prob must be in [0, 1), got {sil_prob}")
    sil_cost = -math.log(sil_prob) if use_sil else 0.0
    no_sil_cost = -math.log(1.0 - sil_prob) if use_sil else 0.0

    def arc(src: int, dst: int, ilab: int, olab: int, cost: float) -> None:
        fst.add_arc(src, kaldifst.StdArc(ilab, olab, cost, dst))

    start = fst.add_state()
    fst.start = start
    if use_sil:
        loop, sil = fst.add_state(), fst.add_state()
        arc(start, loop, 0, 0, no_sil_cost)
        arc(start, sil, 0, 0, sil_cost)
        if sil_disambig is None:
            arc(sil, loop, phones[sil_phone], 0, 0.0)
        else:
            mid = fst.add_state()
            arc(sil, mid, phones[sil_phone], 0, 0.0)
            arc(mid, loop, phones[sil_disambig], 0, 0.0)
    else:
        loop = start
    for word, prob, pron in lexicon:
        cost = -math.log(prob)
        cur = loop
        for i, p in enumerate(pron[:-1]):
            nxt = fst.add_state()
            arc(cur, nxt, phones[p], words[word] if i == 0 else 0, cost if i == 0 else 0.0)
            cur = nxt
        first = len(pron) == 1
        wid, wcost = (words[word], cost) if first else (0, 0.0)
        arc(cur, loop, phones[pron[-1]], wid, no_sil_cost + wcost)
        if use_sil:
            arc(cur, sil, phones[pron[-1]], wid, sil_cost + wcost)
    fst.set_final(loop, 0.0)
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def _write_phone_lists(lang: Path, lists: Dict[str, List[str]], phones: Dict[str, int]) -> None:
    """Write phones/<name>.{txt,int,csl} for each list."""
    for name, syms in lists.items():
        write_text_atomic(lang / "phones" / f"{name}.txt", "".join(s + "\n" for s in syms))
        ids = [phones[s] for s in syms]
        write_ints(lang / "phones" / f"{name}.int", [[i] for i in ids])
        write_text_atomic(lang / "phones" / f"{name}.csl", ":".join(map(str, ids)) + "\n")


def _write_rows(lang: Path, name: str, rows: List[List[str]], phones: Dict[str, int],
                first: int = 0) -> None:
    """Write phones/<name>.txt and its .int (fields ``first:`` mapped through phones.txt)."""
    write_ints(lang / "phones" / f"{name}.txt", rows)
    ints = to_ints(lang / "phones" / f"{name}.txt", rows, phones, first)
    write_ints(lang / "phones" / f"{name}.int", [r[:first] + i for r, i in zip(rows, ints)])


def word_boundary_label(phone: str) -> str:
    """Kaldi's word_boundary.txt label for a lang phone."""
    return {"_I": "internal", "_B": "begin", "_S": "singleton", "_E": "end"}.get(phone[-2:], "nonword")


@dataclass
class _LangPlan:
    """What prepare_lang computes before writing: phone lists, lexicons, symbol tables."""

    pmap: Dict[str, List[str]]
    lexicon: List[Entry]
    lex_disambig: List[Entry]
    silence: List[str]
    nonsilence: List[str]
    disambig: List[str]
    phones: Dict[str, int]
    words: Dict[str, int]


def _plan(dct: DictDir, cfg: LangConfig) -> _LangPlan:
    """Position-dependent phones, disambiguated lexicon and the phones/words numbering."""
    pmap = phone_map(dct, cfg.position_dependent_phones)
    lexicon = add_word_positions(dct.lexicon) if cfg.position_dependent_phones else list(dct.lexicon)
    lex_disambig, max_disambig = add_lex_disambig(lexicon)
    silence = [q for row in dct.silence for p in row for q in pmap[p]]
    nonsilence = [q for row in dct.nonsilence for p in row for q in pmap[p]]
    disambig = [f"#{k}" for k in range(max_disambig + cfg.num_extra_phone_disambig_syms + 1)]
    phones = {s: i for i, s in enumerate(["<eps>"] + silence + nonsilence + disambig)}
    vocab = sorted({w for w, _, _ in lexicon}, key=lambda w: w.encode())
    words = {s: i for i, s in enumerate(["<eps>"] + vocab + ["#0", "<s>", "</s>"])}
    return _LangPlan(pmap, lexicon, lex_disambig, silence, nonsilence, disambig, phones, words)


def _write_tables(lang: Path, plan: _LangPlan, oov_word: str) -> None:
    """phones.txt, words.txt, oov.{txt,int}."""
    if oov_word not in plan.words or oov_word in RESERVED_WORDS:
        raise LangError(f"OOV word {oov_word!r} is not a word of the lexicon")
    write_symbol_table(lang / "phones.txt", plan.phones)
    write_symbol_table(lang / "words.txt", plan.words)
    write_text_atomic(lang / "oov.txt", oov_word + "\n")
    write_text_atomic(lang / "oov.int", f"{plan.words[oov_word]}\n")


def _write_phone_sets(lang: Path, dct: DictDir, plan: _LangPlan, cfg: LangConfig) -> None:
    """phones/{silence,...}.{txt,int,csl}, wdisambig*, sets, roots, extra_questions, word_boundary."""
    phones, pmap = plan.phones, plan.pmap
    (lang / "phones").mkdir(exist_ok=True)
    _write_phone_lists(lang, {"silence": plan.silence, "nonsilence": plan.nonsilence,
                              "optional_silence": [dct.optional_silence], "disambig": plan.disambig,
                              "context_indep": plan.silence}, phones)
    write_text_atomic(lang / "phones" / "wdisambig.txt", "#0\n")
    write_text_atomic(lang / "phones" / "wdisambig_phones.int", f"{phones['#0']}\n")
    write_text_atomic(lang / "phones" / "wdisambig_words.int", f"{plan.words['#0']}\n")
    sets = [[q for p in row for q in pmap[p]] for row in dct.silence + dct.nonsilence]
    _write_rows(lang, "sets", sets, phones)
    _write_rows(lang, "roots", [["shared", "split"] + s for s in sets], phones, first=2)
    extra = [[q for p in row for q in pmap[p]] for row in dct.extra_questions]
    if cfg.position_dependent_phones:
        extra += [[p + s for row in dct.nonsilence for p in row] for s in POSITIONS]
        extra += [[p + s for row in dct.silence for p in row] for s in ("",) + POSITIONS]
    _write_rows(lang, "extra_questions", extra, phones)
    if cfg.position_dependent_phones:
        bound = [[p, word_boundary_label(p)] for p in plan.silence + plan.nonsilence]
        write_ints(lang / "phones" / "word_boundary.txt", bound)
        write_ints(lang / "phones" / "word_boundary.int", [[phones[p], b] for p, b in bound])


def _write_align_lexicon(lang: Path, dct: DictDir, plan: _LangPlan) -> None:
    """phones/align_lexicon.{txt,int}: ``<word> <word> <phones>``, plus ``<eps> <eps> SIL``."""
    align = sorted({" ".join([w, w, *pr]) for w, _, pr in plan.lexicon} |
                   {f"<eps> <eps> {dct.optional_silence}"}, key=str.encode)
    rows = [line.split() for line in align]
    write_ints(lang / "phones" / "align_lexicon.txt", rows)
    write_ints(lang / "phones" / "align_lexicon.int",
               [[plan.words[r[0]], plan.words[r[1]]] + [plan.phones[p] for p in r[2:]] for r in rows])


def _write_topo_and_fsts(lang: Path, dct: DictDir, plan: _LangPlan, cfg: LangConfig) -> int:
    """topo, L.fst, L_disambig.fst; returns the number of states of L."""
    from kaldi_kd.kaldi.wheels import kaldifst

    phones, words = plan.phones, plan.words
    write_text_atomic(lang / "topo", gen_topo([phones[p] for p in plan.nonsilence],
                                              [phones[p] for p in plan.silence],
                                              cfg.num_nonsil_states, cfg.num_sil_states))
    sil_phone = dct.optional_silence if cfg.sil_prob > 0 else None
    L = make_lexicon_fst(plan.lexicon, phones, words, cfg.sil_prob, sil_phone)
    L.write(str(lang / "L.fst"))
    Ld = make_lexicon_fst(plan.lex_disambig, phones, words, cfg.sil_prob, sil_phone, plan.disambig[-1])
    kaldifst.add_self_loops(Ld, [phones["#0"]], [words["#0"]])
    kaldifst.arcsort(Ld, sort_type="olabel")
    Ld.write(str(lang / "L_disambig.fst"))
    return L.num_states


def _write_lang_files(dct: DictDir, oov_word: str, lang: Path, cfg: LangConfig) -> None:
    """Write every lang-dir file into ``lang`` (an empty directory)."""
    plan = _plan(dct, cfg)
    _write_tables(lang, plan, oov_word)
    _write_phone_sets(lang, dct, plan, cfg)
    _write_align_lexicon(lang, dct, plan)
    n = _write_topo_and_fsts(lang, dct, plan, cfg)
    logger.info("lang: %d phones + %d disambig, %d words, %d prons, L.fst %d states",
                len(plan.silence) + len(plan.nonsilence), len(plan.disambig), len(plan.words) - 4,
                len(plan.lexicon), n)


def prepare_lang(dict_dir: PathLike, oov_word: str, lang_dir: PathLike,
                 config: Optional[LangConfig] = None) -> None:
    """Make the Kaldi lang dir ``lang_dir`` from the dict dir ``dict_dir``.

    The directory is built beside ``lang_dir`` and renamed into place at the end, so
    a failure leaves any previous ``lang_dir`` untouched.  The check
    :func:`kaldi_kd.gmm.lang.validate_lang` runs on the result before the rename.

    Raises:
        LangError: a problem in the dict dir (names the file and line) or the OOV word.
    """
    from kaldi_kd.gmm.lang import validate_lang

    cfg = config or LangConfig()
    dct = read_dict_dir(dict_dir)
    lang = Path(lang_dir)
    tmp = lang.with_name(f".{lang.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        _write_lang_files(dct, oov_word, tmp, cfg)
        write_text_atomic(tmp / "prepare_lang.yaml",
                          "".join(f"{k}: {v}\n" for k, v in asdict(cfg).items()))
        validate_lang(tmp)
        old_log = lang / "log"
        if old_log.is_dir():
            shutil.copytree(old_log, tmp / "log", dirs_exist_ok=True)
        if lang.exists():
            shutil.rmtree(lang)
        tmp.rename(lang)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
