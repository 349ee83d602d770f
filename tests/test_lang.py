"""Dict dir + prepare_lang + Lang loader + validate_lang on tiny lexicons."""

import shutil
from pathlib import Path

import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst  # noqa: F401  (import order)
from kaldi_kd.gmm.fstutils import iter_arcs
from kaldi_kd.gmm.lang import Lang, LangConfig, LangError, prepare_lang, validate_lang
from kaldi_kd.gmm.lexicon import ARPABET, flite_phones_to_arpabet, make_lexicon, write_dict_dir

DIGITS = "zero oh one two three four five six seven eight nine".split()
# homophones: two/too/to; eight (EY T) is a prefix of eighty (EY T IY) without positions
LEX = {
    "zero": ["Z IH R OW", "Z IY R OW"], "oh": ["OW"], "one": ["W AH N"], "two": ["T UW"],
    "too": ["T UW"], "to": ["T UW"], "three": ["TH R IY"], "four": ["F AO R"], "five": ["F AY V"],
    "six": ["S IH K S"], "seven": ["S EH V AH N"], "eight": ["EY T"], "eighty": ["EY T IY"],
    "nine": ["N AY N"],
}


def fake_cmu():
    return {w: [tuple(p.split()) for p in prons] for w, prons in LEX.items()}


def make_dict(tmp_path: Path) -> Path:
    entries, stats = make_lexicon(list(LEX), "<UNK>", cmu=fake_cmu())
    assert stats.num_cmudict == len(LEX) and stats.num_g2p == 0
    d = tmp_path / "dict"
    write_dict_dir(entries, d)
    return d


@pytest.fixture(scope="module")
def lang_dirs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lang")
    d = make_dict(tmp)
    prepare_lang(d, "<UNK>", tmp / "lang")
    prepare_lang(d, "<UNK>", tmp / "lang_nopos", LangConfig(position_dependent_phones=False))
    return tmp / "lang", tmp / "lang_nopos", d


def decode_phones(L, phone_ids):
    """Words of the best path of L for a phone sequence (None if rejected)."""
    acc = kaldifst.make_linear_acceptor(phone_ids)
    kaldifst.arcsort(L, sort_type="ilabel")
    comp = kaldifst.compose(acc, L)
    if comp.num_states == 0:
        return None
    ok, _, osyms, _ = kaldifst.get_linear_symbol_sequence(kaldifst.shortest_path(comp))
    assert ok
    return osyms


def test_symbol_tables_and_order(lang_dirs):
    lang = Lang(lang_dirs[0])
    names = [lang.phone_names[i] for i in range(len(lang.phones))]
    assert names[:7] == ["<eps>", "SIL", "SIL_B", "SIL_E", "SIL_I", "SIL_S", "SPN"]
    assert names[11:15] == ["AA_B", "AA_E", "AA_I", "AA_S"]
    assert lang.num_phones == 2 * 5 + 39 * 4
    assert [lang.phone_names[i] for i in lang.disambig] == [f"#{k}" for k in range(len(lang.disambig))]
    # three homophones -> #1..#3, plus the silence disambig #4
    assert len(lang.disambig) == 5
    words = [lang.word_names[i] for i in range(len(lang.words))]
    assert words[0] == "<eps>" and words[-3:] == ["#0", "<s>", "</s>"]
    assert words[1:-3] == sorted(words[1:-3], key=str.encode) and "<UNK>" in words
    assert lang.oov_word == "<UNK>" and lang.words["<UNK>"] == lang.oov_id
    assert lang.phone_names[lang.optional_silence] == "SIL"
    assert lang.word_boundary[lang.phones["AA_B"]] == "begin"
    assert lang.word_boundary[lang.phones["SIL"]] == "nonword"
    assert len(lang.sets) == 41 and lang.base_phones[:3] == ["SIL", "SPN", "AA"]
    assert lang.phone_to_base[lang.phones["OW_E"]] == lang.base_phones.index("OW")
    assert all(r[0] == "shared" and r[1] == "split" for r in lang.roots)
    prons = lang.pronunciations()
    assert [[lang.phone_names[p] for p in pr] for pr in prons["zero"]] == [
        ["Z_B", "IH_I", "R_I", "OW_E"], ["Z_B", "IY_I", "R_I", "OW_E"]]
    assert [lang.phone_names[p] for p in prons["<UNK>"][0]] == ["SPN_S"]


def test_topo_loads_with_all_phones(lang_dirs):
    lang = Lang(lang_dirs[0])
    topo = lang.topology()
    assert sorted(topo.phones) == sorted(lang.silence + lang.nonsilence)
    assert topo.num_pdf_classes(lang.phones["AA_B"]) == 3
    assert topo.num_pdf_classes(lang.phones["SIL"]) == 5


@pytest.mark.parametrize("which", [0, 1])
def test_L_accepts_every_pronunciation(lang_dirs, which):
    lang = Lang(lang_dirs[which])
    L = lang.lexicon_fst()
    for row in (lang_dirs[2] / "lexicon.txt").read_text().splitlines():
        word, *phones = row.split()
        if which == 0:
            phones = [phones[0] + "_S"] if len(phones) == 1 else (
                [phones[0] + "_B"] + [p + "_I" for p in phones[1:-1]] + [phones[-1] + "_E"])
        ids = [lang.phones[p] for p in phones]
        assert decode_phones(L, ids) == [lang.words[word]] or word in ("two", "too", "to")
        # with optional silence around and between two words
        sil = lang.phones["SIL"]
        out = decode_phones(L, [sil] + ids + [sil] + ids)
        assert out is not None and len(out) == 2
    assert decode_phones(L, [lang.phones["AA_S" if which == 0 else "AA"]]) is None


def test_disambig_symbols_for_homophones_and_prefixes(lang_dirs):
    for which, prefix_disambig in ((0, False), (1, True)):
        lang = Lang(lang_dirs[which])
        Ld = lang.lexicon_fst(disambig=True)
        arcs = list(iter_arcs(Ld))
        # follow each word's path from its word arc to the disambig symbol (if any)
        by_src = {}
        for a in arcs:
            by_src.setdefault(a.src, []).append(a)
        dis = set(lang.disambig)

        def disambig_of(word):
            syms = set()
            for a in arcs:
                if a.olabel == lang.words[word]:
                    stack = [a.dst]
                    seen = set()
                    while stack:
                        s = stack.pop()
                        if s in seen or s in (1, 2):
                            continue
                        seen.add(s)
                        for b in by_src.get(s, []):
                            if b.ilabel in dis:
                                syms.add(lang.phone_names[b.ilabel])
                            stack.append(b.dst)
            return syms

        assert sorted(set().union(*(disambig_of(w) for w in ("two", "too", "to")))) == ["#1", "#2", "#3"]
        assert disambig_of("nine") == set()
        assert (disambig_of("eight") == {"#1"}) == prefix_disambig
        # #0:#0 self-loop for G's backoff, and the silence disambig after SIL
        assert any(a.src == a.dst and a.ilabel == lang.phones["#0"] and a.olabel == lang.words["#0"]
                   for a in arcs)
        last = lang.phone_names[lang.disambig[-1]]
        assert any(a.ilabel == lang.phones[last] for a in arcs)
        # L.fst itself has no disambiguation symbols
        assert not {a.ilabel for a in iter_arcs(lang.lexicon_fst())} & dis


def test_L_readable_by_openfst_tools(lang_dirs):
    fstinfo = shutil.which("fstinfo")
    if fstinfo is None:
        pytest.skip("fstinfo not installed")
    import subprocess

    out = subprocess.run([fstinfo, str(lang_dirs[0] / "L_disambig.fst")], capture_output=True,
                         text=True, check=True).stdout
    assert "# of states" in out and "vector" in out


def _broken(lang_dirs, tmp_path, name, edit):
    d = tmp_path / name
    shutil.copytree(lang_dirs[0], d)
    edit(d)
    with pytest.raises(LangError) as e:
        validate_lang(d)
    return str(e.value)


def test_validator_rejects_broken_lang_dirs(lang_dirs, tmp_path):
    validate_lang(lang_dirs[0])

    def dup_phone_id(d):
        t = (d / "phones.txt").read_text().replace("SIL_B 2\n", "SIL_B 1\n")
        (d / "phones.txt").write_text(t)
    assert "phones.txt:3" in _broken(lang_dirs, tmp_path, "a", dup_phone_id)

    def topo_missing_phone(d):
        t = (d / "topo").read_text().replace("\n1 2 3 4 5 6 7 8 9 10\n", "\n1 2 3 4 5 6 7 8 9\n")
        (d / "topo").write_text(t)
    assert "topo" in _broken(lang_dirs, tmp_path, "b", topo_missing_phone)

    def no_word_disambig(d):
        t = "".join(x + "\n" for x in (d / "words.txt").read_text().splitlines() if not x.startswith("#0"))
        (d / "words.txt").write_text(t)
    assert "words.txt" in _broken(lang_dirs, tmp_path, "c", no_word_disambig)

    def bad_int(d):
        (d / "phones" / "silence.int").write_text("1\n2\n")
    assert "silence.int" in _broken(lang_dirs, tmp_path, "d", bad_int)

    def garbage_L(d):
        (d / "L.fst").write_bytes(b"not an fst")
    assert "L.fst" in _broken(lang_dirs, tmp_path, "e", garbage_L)

    def L_disambig_no_loop(d):
        shutil.copy(d / "L.fst", d / "L_disambig.fst")
    assert "L_disambig.fst" in _broken(lang_dirs, tmp_path, "f", L_disambig_no_loop)


def test_bad_dict_dir_names_file_and_line(tmp_path):
    d = make_dict(tmp_path)
    lex = d / "lexicon.txt"
    lex.write_text(lex.read_text() + "weird QQ\n")
    n = len(lex.read_text().splitlines())
    with pytest.raises(LangError, match=f"lexicon.txt:{n}.*QQ"):
        prepare_lang(d, "<UNK>", tmp_path / "lang")
    assert not (tmp_path / "lang").exists()
    lex.write_text("zero Z IH R OW\n")
    with pytest.raises(LangError, match="OOV word"):
        prepare_lang(d, "<UNK>", tmp_path / "lang")


def test_flite_mapping_and_g2p():
    assert flite_phones_to_arpabet("pau hh ax l ow1 pau".split(), "hello") == ("HH", "AH", "L", "OW")
    if shutil.which("t2p") is None and shutil.which("flite") is None:
        pytest.skip("flite not installed")
    entries, stats = make_lexicon(["zero", "Zorblax", "10", "<UNK>"], cmu=fake_cmu())
    assert stats.num_g2p == 2 and stats.g2p_words == ["Zorblax", "10"]
    assert ("10", ("T", "EH", "N")) in entries
    pron = [p for w, p in entries if w == "Zorblax"][0]
    assert pron[0] == "Z" and all(p in ARPABET for p in pron)
    assert ("<UNK>", ("SPN",)) in entries


def test_no_optional_silence(tmp_path):
    d = make_dict(tmp_path)
    prepare_lang(d, "<UNK>", tmp_path / "lang", LangConfig(sil_prob=0.0))
    lang = Lang(tmp_path / "lang")
    L = lang.lexicon_fst()
    one = [lang.phones[p] for p in ("W_B", "AH_I", "N_E")]
    assert decode_phones(L, one + one) == [lang.words["one"]] * 2
    assert decode_phones(L, one + [lang.phones["SIL"]] + one) is None


def test_cli_stages_on_kaldi_text(tmp_path):
    """The run.sh commands: prepare_dict.py (CMUdict) and prepare_lang.py on a data dir's text."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    text = tmp_path / "data" / "train" / "text"
    text.parent.mkdir(parents=True)
    text.write_text("spk1-u1 zero oh one\nspk1-u2 two three four five\nspk2-u3 six seven eight nine\n")
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, *map(str, a)], capture_output=True, text=True,
                                    env=env, timeout=120)
    r = run(root / "steps_py/prepare_dict.py", "--oov", "<UNK>", text, tmp_path / "dict")
    assert r.returncode == 0, r.stderr
    lex = (tmp_path / "dict" / "lexicon.txt").read_text().splitlines()
    assert "zero Z IH R OW" in lex and "<UNK> SPN" in lex and not any(x.startswith("spk") for x in lex)
    assert (tmp_path / "dict" / "nonsilence_phones.txt").read_text().split() == ARPABET
    r = run(root / "steps_py/prepare_lang.py", tmp_path / "dict", "<UNK>", tmp_path / "lang")
    assert r.returncode == 0, r.stderr
    assert Lang(tmp_path / "lang", check_fsts=True).words["nine"] > 0
    r = run(root / "steps_py/prepare_lang.py", tmp_path / "dict", "<OOV>", tmp_path / "lang2")
    assert r.returncode == 1 and "OOV word '<OOV>'" in r.stderr
