"""G.fst (make_G), ARPA checks and HCLG (mkgraph) with a synthetic 'perfect' decode."""

import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst
from kaldi_kd.gmm import ngram
from kaldi_kd.gmm.fstutils import input_labels, read_fst, relabel_input
from kaldi_kd.gmm.graph import make_graph_dir, read_ilabels, write_ilabels
from kaldi_kd.gmm.ngram import ArpaError, validate_arpa
from kaldi_kd.decode.toy import build_lang_graph
from gmm_fixtures import unit_gaussian_am

DIGITS = "zero oh one two three four five six seven eight nine".split()
LEX = {"zero": ["Z IH R OW", "Z IY R OW"], "oh": ["OW"], "one": ["W AH N"], "two": ["T UW"],
       "too": ["T UW"], "three": ["TH R IY"], "four": ["F AO R"], "five": ["F AY V"],
       "six": ["S IH K S"], "seven": ["S EH V AH N"], "eight": ["EY T"], "nine": ["N AY N"]}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graph")
    rng = random.Random(0)
    lines = [" ".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 6))) for _ in range(300)]
    g = build_lang_graph(tmp, LEX, lines + ["one two qwerty"])
    lang, ctx, tm, topo, stats, gstats = g.lang, g.ctx_dep, g.trans_model, g.topo, g.lm_stats, g.graph_stats
    return dict(tmp=tmp, lang=lang, ctx=ctx, tm=tm, topo=topo, stats=stats, gstats=gstats)


def accepts(G, word_ids):
    G = relabel_input(G, {})  # copy
    acc = kaldifst.make_linear_acceptor(word_ids)
    kaldifst.arcsort(G, sort_type="ilabel")
    return kaldifst.compose(acc, G).num_states > 0


def test_G_accepts_in_vocabulary_sentences(setup):
    lang = setup["lang"]
    G = read_fst(lang.dir / "G.fst")
    assert lang.words["#0"] in input_labels(G)  # backoff arcs carry #0
    assert not input_labels(G) & {lang.words["<s>"], lang.words["</s>"]}
    G0 = relabel_input(G, {lang.words["#0"]: 0})
    for sent in (["one"], ["nine", "eight", "seven", "zero"], ["oh", "oh", "oh", "oh", "oh", "six"]):
        assert accepts(G0, lang.word_ids(sent))
    assert accepts(G0, lang.word_ids(["one", "two", "<UNK>"]))  # qwerty -> <UNK>
    assert not accepts(G0, lang.word_ids(["too"]))  # in the lexicon, never in the LM text
    assert setup["stats"]["ngram_1"] == 14  # 11 digits, <UNK>, <s>, </s>
    assert setup["stats"]["det_LG_states"] > 0


BAD_ARPAS = {
    "bad.arpa:11: backoff weight on a 2-gram": ("\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n"
                                     "-0.5\t</s>\n-0.5\ta\t-0.3\n\n\\2-grams:\n-0.2\t<s> a\t-0.1\n\n\\end\\\n"),
    "section has": ("\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<s>\n-0.5\t</s>\n-0.5\ta\n\n\\end\\\n"),
    "non-finite": ("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t<s>\n-0.5\t</s>\nnan\ta\n\n\\end\\\n"),
    "expected \\\\end": ("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t<s>\n-0.5\t</s>\n-0.5\ta\n"),
    "no \\\\data": "hello\n",
}


@pytest.mark.parametrize("msg", list(BAD_ARPAS))
def test_bad_arpa_gives_clear_error(tmp_path, msg):
    p = tmp_path / "bad.arpa"
    p.write_text(BAD_ARPAS[msg])
    with pytest.raises(ArpaError, match=msg):
        validate_arpa(p)


def test_arpa2fst_abort_is_an_exception(setup, tmp_path, monkeypatch):
    p = tmp_path / "bad.arpa"
    p.write_text(BAD_ARPAS["bad.arpa:11: backoff weight on a 2-gram"])
    monkeypatch.setattr(ngram, "validate_arpa", lambda path: None)  # let kaldilm see it
    with pytest.raises(ArpaError, match="arpa2fst failed"):
        ngram.arpa_to_G(p, setup["lang"].dir / "words.txt", tmp_path / "G.fst")
    assert not (tmp_path / "G.fst").exists()


def perfect_loglikes(setup, words, sil_frames=0):
    """(T, num_transition_ids) scores: 0 on the forced path's pdfs, -20 elsewhere."""
    lang, ctx, tm, topo = setup["lang"], setup["ctx"], setup["tm"], setup["topo"]
    pdfs = []

    def phone(p):
        pid = lang.phones[p]
        for c in range(topo.num_pdf_classes(pid)):
            ok, pdf = ctx.compute([pid], c)
            assert ok
            pdfs.extend([pdf] * 3)

    for w in words:
        for pid in lang.pronunciation(w):
            phone(lang.phone_names[pid])
        if sil_frames:
            phone("SIL")
    T = len(pdfs)
    L = np.full((T, tm.num_pdfs), -20.0, dtype=np.float32)
    L[np.arange(T), pdfs] = 0.0
    tid2pdf = np.asarray(tm.transition_id_to_pdf_array())
    return np.ascontiguousarray(L[:, tid2pdf[1:]])


@pytest.mark.parametrize("sil", [0, 1])
def test_decode_perfect_loglikes(setup, sil):
    lang, tm = setup["lang"], setup["tm"]
    HCLG = read_fst(setup["tmp"] / "graph" / "HCLG.fst")
    for words in (["one", "two", "three"], ["zero", "oh", "nine", "nine", "eight"], ["seven"]):
        M = perfect_loglikes(setup, words, sil)
        dec = kaldi_hmm_gmm.LatticeFasterDecoder(HCLG, kaldi_hmm_gmm.LatticeFasterDecoderConfig())
        ok, ali, out, _ = kaldi_hmm_gmm.decode_utterance_lattice_faster(
            dec, kaldi_hmm_gmm.DecodableCtc(M), tm, "utt", False)
        assert ok and [lang.word_names[w] for w in out] == words
        assert len(ali) == M.shape[0]


def test_hclg_has_no_disambig_symbols(setup):
    g = setup["tmp"] / "graph"
    HCLG = read_fst(g / "HCLG.fst")
    ilabs = input_labels(HCLG)
    disambig_tid = {int(x) for x in (g / "disambig_tid.int").read_text().split()}
    assert disambig_tid and not ilabs & disambig_tid
    assert max(ilabs) <= setup["tm"].num_transition_ids and min(ilabs) >= 0
    assert (g / "num_pdfs").read_text().strip() == str(setup["tm"].num_pdfs)
    for f in ("words.txt", "phones.txt", "phones/word_boundary.int", "phones/disambig.int",
              "phones/silence.csl", "tmp/ilabels_1_0"):
        assert (g / f).is_file(), f
    assert setup["gstats"]["HCLG_states"] == HCLG.num_states > 0


def test_ilabels_round_trip(tmp_path):
    il = [[], [0], [3], [-5, 1], [7, 8, 9]]
    write_ilabels(tmp_path / "il", il)
    assert read_ilabels(tmp_path / "il") == il


def test_mkgraph_cli_with_model_files(setup, tmp_path):
    from kaldi_kd.gmm.model_io import write_model, write_tree

    tm = setup["tm"]
    am = unit_gaussian_am(tm.num_pdfs, 2)
    mdir = tmp_path / "mono"
    write_model(mdir / "final.mdl", tm, am)
    write_tree(mdir / "tree", setup["ctx"])
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, str(ROOT / "steps_py" / "mkgraph.py"),
                          str(setup["tmp"] / "lang_test"), str(mdir), str(mdir / "graph")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    HCLG = read_fst(mdir / "graph" / "HCLG.fst")
    assert HCLG.num_states == setup["gstats"]["HCLG_states"]
    if shutil.which("fstinfo"):
        info = subprocess.run(["fstinfo", str(mdir / "graph" / "HCLG.fst")], capture_output=True,
                              text=True, check=True).stdout
        assert "# of states" in info
    res = subprocess.run([sys.executable, str(ROOT / "steps_py" / "mkgraph.py"),
                          str(setup["tmp"] / "lang"), str(mdir), str(tmp_path / "g2")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0 and "G.fst" in res.stderr


def triphone_tree(lang, ctx_mono):
    """A context-dependent tree (N=3, P=1): the monophone tree with its keys moved to the
    central position, pdf-class 1 of each non-silence phone split on the left phone and
    pdf-class 2 split on the right phone (is it a vowel?)."""
    from kaldi_kd.gmm.event_map import ConstantMap, SplitMap, TableMap, Tree

    mono = Tree.from_context_dependency(ctx_mono)
    vowels = sorted(i for p, i in lang.phones.items() if p[:2] in ("AA", "AH", "IY", "OW", "UW", "AY"))
    next_pdf = mono.num_pdfs()
    table = []
    for phone, node in enumerate(mono.to_pdf.table):
        if node is not None and phone in lang.nonsilence:
            leaves = list(node.table)
            for cls, key in ((1, 0), (2, 2)):
                leaves[cls] = SplitMap(key, vowels, ConstantMap(next_pdf), leaves[cls])
                next_pdf += 1
            node = TableMap(-1, leaves)
        table.append(node)
    return Tree(3, 1, TableMap(1, table)).to_context_dependency()


@pytest.fixture(scope="module")
def tri(setup):
    lang = setup["lang"]
    ctx = triphone_tree(lang, setup["ctx"])
    tm = kaldi_hmm_gmm.TransitionModel(ctx, setup["topo"])
    g = setup["tmp"] / "graph_tri"
    stats = make_graph_dir(lang.dir, tm, ctx, g)
    return dict(setup, ctx=ctx, tm=tm, graph=g, gstats=stats, mono_pdfs=setup["tm"].num_pdfs)


def triphone_loglikes(s, words, sil):
    lang, ctx, tm, topo = s["lang"], s["ctx"], s["tm"], s["topo"]
    seq = []
    for w in words:
        seq += list(lang.pronunciation(w)) + ([lang.phones["SIL"]] if sil else [])
    pdfs = []
    for i, pid in enumerate(seq):
        left = seq[i - 1] if i > 0 else 0
        right = seq[i + 1] if i + 1 < len(seq) else 0
        for c in range(topo.num_pdf_classes(pid)):
            ok, pdf = ctx.compute([left, pid, right], c)
            assert ok
            pdfs.extend([pdf] * 3)
    L = np.full((len(pdfs), tm.num_pdfs), -20.0, dtype=np.float32)
    L[np.arange(len(pdfs)), pdfs] = 0.0
    return np.ascontiguousarray(L[:, np.asarray(tm.transition_id_to_pdf_array())[1:]])


@pytest.mark.parametrize("sil", [0, 1])
def test_triphone_graph_decode(tri, sil):
    lang, tm = tri["lang"], tri["tm"]
    assert tm.num_pdfs == tri["mono_pdfs"] + 2 * len(lang.nonsilence)
    HCLG = read_fst(tri["graph"] / "HCLG.fst")
    assert (tri["graph"] / "tmp" / "ilabels_3_1").is_file()
    disambig_tid = {int(x) for x in (tri["graph"] / "disambig_tid.int").read_text().split()}
    assert not input_labels(HCLG) & disambig_tid
    for words in (["one", "two", "three"], ["zero", "oh", "nine", "nine", "eight"], ["six"]):
        M = triphone_loglikes(tri, words, sil)
        dec = kaldi_hmm_gmm.LatticeFasterDecoder(HCLG, kaldi_hmm_gmm.LatticeFasterDecoderConfig())
        ok, ali, out, _ = kaldi_hmm_gmm.decode_utterance_lattice_faster(
            dec, kaldi_hmm_gmm.DecodableCtc(M), tm, "utt", False)
        assert ok and [lang.word_names[w] for w in out] == words


def test_make_G_from_existing_arpa_gz(setup, tmp_path):
    import gzip

    from kaldi_kd.gmm.ngram import make_lang_test_from_arpa

    arpa = (setup["lang"].dir / "lm.arpa").read_text()
    arpa = arpa.replace("ngram 1=14", "ngram 1=15").replace("\\1-grams:\n", "\\1-grams:\n-2.0\tqwerty\n")
    with gzip.open(tmp_path / "lm.arpa.gz", "wt") as f:
        f.write(arpa)
    stats = make_lang_test_from_arpa(tmp_path / "lm.arpa.gz", setup["tmp"] / "lang", tmp_path / "lt",
                                     check_lg=False)
    assert stats["ngram_1"] == 15  # qwerty (not in words.txt) skipped by arpa2fst, as Kaldi does
    assert (tmp_path / "lt" / "G.fst").read_bytes() == (setup["lang"].dir / "G.fst").read_bytes()
