"""Unit segments from alignments and from text (tiny lang, triphone-like tree, forced alignments)."""

import gzip

import numpy as np
import pytest
import torch

from gmm_fixtures import unit_gaussian_am
from units_tiny import forced_alignment, make_model, write_lang

from kaldi_kd.units.alignment import (AlignmentError, TransitionTables, monophone_segments, phone_instances,
                                      senone_segments, split_frames, subword_segments, word_spans)
from kaldi_kd.gmm.lang import Lang
from kaldi_kd.units.segments import Segments, from_frames
from kaldi_kd.units.spm import SpmConfig, load_spm, train_spm
from kaldi_kd.units.text import TextToUnits, TextUnitsConfig, iter_unit_sequences, realise, write_unit_corpus
from kaldi_kd.units.vocab import SIL, monophone_vocab

torch.set_num_threads(1)
SENTENCES = [["one", "two", "three"], ["four", "a", "one"], ["two"], ["three", "three", "four", "two"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("units")
    lang = Lang(write_lang(d / "lang"))
    tm, ctx = make_model(triphone=True)
    rng = np.random.default_rng(0)
    words = ["one", "two", "three", "four", "a"]
    (d / "lm.txt").write_text("".join(" ".join(rng.choice(words, rng.integers(1, 6))) + "\n" for _ in range(300)))
    sp = load_spm(train_spm(d / "lm.txt", d / "spm.model", SpmConfig(vocab_size=18, model_type="bpe")))
    alis = [(s, forced_alignment(tm, ctx, s, 14 * len(s) + 16, seed=i)) for i, s in enumerate(SENTENCES * 3)]
    return dict(dir=d, lang=lang, tm=tm, ctx=ctx, tt=TransitionTables.from_model(tm), sp=sp, alis=alis)


def test_segments_round_trip():
    frames = np.array([3, 3, 3, 1, 1, 4, 4, 4, 4, 3])
    seg = from_frames(frames)
    assert seg.units.tolist() == [3, 1, 4, 3] and seg.ends.tolist() == [3, 5, 9, 10]
    assert np.array_equal(seg.to_frames(), frames)
    forced = from_frames(frames, boundaries=[0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    assert forced.units.tolist() == [3, 3, 1, 4, 3] and np.array_equal(forced.to_frames(), frames)
    assert seg.frame_index(np.arange(10)).tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    with pytest.raises(ValueError):
        Segments(np.array([1, 2]), np.array([3, 3]))


def test_alignment_units_round_trip(world):
    tt, lang = world["tt"], world["lang"]
    _, phone_map = monophone_vocab(lang)
    for words, ali in world["alis"]:
        sen = senone_segments(ali, tt)
        assert np.array_equal(sen.to_frames(), tt.pdf[ali])
        # one segment = one HMM-state occurrence: constant transition state inside, 3 states per phone
        ts = tt.tstate[ali]
        for s, e in zip(sen.starts, sen.ends):
            assert len(set(ts[s:e])) == 1
        inst = phone_instances(ali, tt)
        assert len(sen) == 3 * len(inst)
        mono = monophone_segments(ali, tt, phone_map)
        assert np.array_equal(mono.to_frames(), phone_map[tt.phone[ali]])
        assert len(mono) == len(inst) and mono.ends.tolist() == [e for _, _, e in inst]


def test_word_spans_and_subwords(world):
    tt, lang, sp = world["tt"], world["lang"], world["sp"]
    sil = sp.piece_to_id(SIL)
    for words, ali in world["alis"]:
        spans = word_spans(phone_instances(ali, tt), lang, words)
        assert [w for w, _, _ in spans if w is not None] == words
        assert spans[0][1] == 0 and spans[-1][2] == len(ali)
        sub = subword_segments(spans, sp, sil)
        assert sub.num_frames == len(ali)
        pieces = [u for u in sub.units if u != sil]
        assert pieces == sp.encode(" ".join(words), out_type=int)
    with pytest.raises(AlignmentError, match="utt7"):
        word_spans(phone_instances(world["alis"][0][1], tt), lang, ["one", "two"], utt="utt7")


def test_split_frames_by_characters():
    assert split_frames(10, 20, [1, 3, 1]) == [12, 18, 20]
    assert split_frames(0, 2, [5, 5, 5]) == [1, 2]  # fewer frames than pieces: first F kept
    ends = split_frames(0, 7, [1, 1, 1, 1, 1, 1, 20])
    assert ends == sorted(set(ends)) and ends[-1] == 7


def _realisation(spans):
    return [w for w, _, _ in spans]


@pytest.mark.parametrize("level", ["senone", "monophone", "subword"])
def test_text_units_equal_forced_alignment(world, level):
    """Text → units with the alignment's silence placement equals the alignment's segments."""
    tt, lang, tm, ctx, sp = world["tt"], world["lang"], world["tm"], world["ctx"], world["sp"]
    conv = TextToUnits(level, lang, TextUnitsConfig(), trans_model=tm, ctx_dep=ctx, sp=sp)
    _, phone_map = monophone_vocab(lang)
    checked_sil = 0
    for words, ali in world["alis"]:
        inst = phone_instances(ali, tt)
        spans = word_spans(inst, lang, words)
        items = _realisation(spans)
        checked_sil += sum(1 for i in items[1:-1] if i is None)
        starts = [s for _, s, _ in spans]
        if level == "senone":
            seg = senone_segments(ali, tt, word_starts=starts)
        elif level == "monophone":
            seg = monophone_segments(ali, tt, phone_map, word_starts=starts)
        else:
            seg = subword_segments(spans, sp, sp.piece_to_id(SIL))
        units, bounds = conv.units_and_bounds(items)
        assert units.tolist() == seg.units.tolist(), (words, items)
        # group codes: the text side and the alignment side agree unit by unit
        assert bounds.tolist() == seg.bounds.tolist(), (words, items)
        assert int((bounds == 2).sum()) == len(items)  # one word start per word or silence
        if level == "senone":
            assert int((bounds >= 1).sum()) == len(inst)  # one phone start per phone instance
    assert checked_sil > 0  # some alignments chose inner optional silence


def test_tree_context_matters(world):
    """The senone of a phone's first state depends on the left phone (the tree is context-dependent)."""
    conv = TextToUnits("senone", world["lang"], trans_model=world["tm"], ctx_dep=world["ctx"])
    a = conv.units([None, "one", "two", None])
    b = conv.units([None, "one", None, "two", None])
    assert len(b) == len(a) + 3
    two_a, two_b = a[12:18], b[15:21]
    assert two_a[0] != two_b[0] and two_a[1] == two_b[1]


def test_realise_silence_sampling():
    cfg = TextUnitsConfig(sil_prob=0.3, edge_sil_prob=1.0, seed=5)
    rng = np.random.default_rng(0)
    inner = total = 0
    for _ in range(2000):
        items = realise(["a", "b", "c"], cfg, rng)
        assert items[0] is None and items[-1] is None
        words = [i for i in items if i is not None]
        assert words == ["a", "b", "c"]
        inner += len(items) - 5
        total += 2
    assert abs(inner / total - 0.3) < 0.03


def test_unit_corpus_streams_and_is_seeded(world, tmp_path):
    lang, sp = world["lang"], world["sp"]
    text = world["dir"] / "lm.txt"
    conv_m = TextToUnits("monophone", lang, TextUnitsConfig(sil_prob=0.5, seed=3))
    conv_s = TextToUnits("subword", lang, TextUnitsConfig(sil_prob=0.5, seed=3), sp=sp)
    n_tr, n_va = write_unit_corpus(text, tmp_path / "mono", conv_m, valid_every=10)
    assert (n_tr, n_va) == (270, 30)
    lines = gzip.open(tmp_path / "mono" / "train.txt.gz", "rt").read().splitlines()
    assert len(lines) == 270 and all(int(x) < len(conv_m.vocab) for x in lines[0].split())
    assert (tmp_path / "mono" / "units.txt").read_text().splitlines()[0] == f"{SIL} 0"
    # same seed → same silence placement at both levels
    for (_, m), (_, s) in zip(iter_unit_sequences(text, conv_m), iter_unit_sequences(text, conv_s)):
        m_sil = [i for i, u in enumerate(m) if u == 0]
        s_sil = [i for i, u in enumerate(s) if u == conv_s.vocab.sil_id]
        assert len(m_sil) == len(s_sil)


def test_segments_io_round_trip(world, tmp_path):
    from kaldi_kd.units.from_alignments import alignment_segments, level_vocab
    from kaldi_kd.units.io import load_unit_segments, write_segments

    alis = [(f"utt{i}", ali) for i, (_, ali) in enumerate(world["alis"])]
    texts = {f"utt{i}": words for i, (words, _) in enumerate(world["alis"])}
    texts["utt0"] = ["two"]  # a transcript that does not match its alignment: skipped, reported
    levels = ["senone", "monophone", "subword"]
    segs, failed = alignment_segments(alis, texts, world["lang"], world["tm"], levels, world["sp"])
    assert failed == ["utt0"] and len(segs["senone"]) == len(alis) - 1
    for lv in levels:
        write_segments(tmp_path / lv, segs[lv], level_vocab(lv, world["lang"], world["tm"], world["sp"]).symbols)
    back = load_unit_segments(tmp_path, levels)
    for lv in levels:
        assert (tmp_path / lv / "bounds.gz").exists()
        assert all(s.bounds is not None for s in back[lv].values())
        assert back[lv] == segs[lv]
        assert all(s.num_frames == len(dict(alis)[u]) for u, s in back[lv].items())


def test_stage_scripts(world, tmp_path):
    """make_unit_corpus.py (senone, from final.mdl + tree) and ali_to_units.py on real Kaldi files."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from kaldi_kd.data.tables import write_int_vectors
    from kaldi_kd.gmm.model_io import write_model, write_tree
    from kaldi_kd.units.io import load_segments

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    tm, ctx = world["tm"], world["ctx"]
    am = unit_gaussian_am(tm.num_pdfs, 2)
    mdl = tmp_path / "exp"
    mdl.mkdir()
    write_model(mdl / "final.mdl", tm, am)
    write_tree(mdl / "tree", ctx)
    lang = world["dir"] / "lang"
    out = tmp_path / "senone"
    subprocess.run([sys.executable, str(root / "steps_py/make_unit_corpus.py"), "--level", "senone",
                    str(world["dir"] / "lm.txt"), str(lang), str(mdl), str(out)], check=True, env=env,
                   capture_output=True)
    conv = TextToUnits("senone", world["lang"], TextUnitsConfig(), trans_model=tm, ctx_dep=ctx)
    first = gzip.open(out / "train.txt.gz", "rt").readline().split()
    words = (world["dir"] / "lm.txt").read_text().splitlines()[0].split()
    assert [int(x) for x in first] == conv(words, 1).tolist()
    # ali_to_units.py over ali.1.gz + data/text
    data = tmp_path / "data"
    data.mkdir()
    alis = {f"utt{i:02d}": ali for i, (_, ali) in enumerate(world["alis"])}
    (data / "text").write_text("".join(f"{u} {' '.join(w)}\n" for u, (w, _) in zip(alis, world["alis"])))
    write_int_vectors(mdl / "ali.1.gz", sorted(alis.items()))
    subprocess.run([sys.executable, str(root / "steps_py/ali_to_units.py"), "--spm", str(world["dir"] / "spm.model"),
                    str(data), str(lang), str(mdl), str(tmp_path / "units")], check=True, env=env,
                   capture_output=True)
    segs = load_segments(tmp_path / "units" / "senone")
    assert set(segs) == set(alis)
    assert all(np.array_equal(segs[u].to_frames(), world["tt"].pdf[a]) for u, a in alis.items())
    assert len(load_segments(tmp_path / "units" / "subword")) == len(alis)


def test_hmm_path_sampling_follows_transition_probs(world):
    """Kaldi's 5-state silence: sampled state paths follow the jump chain of the transition model."""
    import collections

    tm, ctx = make_model(triphone=False, kaldi_silence=True)
    lang = world["lang"]
    conv = TextToUnits("senone", lang, trans_model=tm, ctx_dep=ctx)
    hmm = conv.phone_hmm((lang.optional_silence,))
    assert not hmm.linear and len(hmm.pdfs) == 5
    assert conv.phone_hmm((lang.phones["W_B"],)).linear
    rng = np.random.default_rng(0)
    paths = [hmm.sample(rng) for _ in range(3000)]
    assert all(p[0] == hmm.pdfs[0] and p[-1] == hmm.pdfs[4] for p in paths)
    second = collections.Counter(p[1] for p in paths)
    for s in (1, 2, 3):  # from state 0, self-loop removed: 1/3 each
        assert abs(second[hmm.pdfs[s]] / 3000 - 1 / 3) < 0.04
    conv_all = TextToUnits("senone", lang, TextUnitsConfig(hmm_path="all"), trans_model=tm, ctx_dep=ctx)
    assert conv_all.units([None], np.random.default_rng(0)).tolist() == hmm.pdfs
    assert np.array_equal(conv(["one", "two"], 7), conv(["one", "two"], 7))
    # forced alignments through this topology: every silence state path is a possible jump-chain path
    tt = TransitionTables.from_model(tm)
    for seed in range(3):
        ali = forced_alignment(tm, ctx, ["one", "two"], 50, seed=seed)
        sen = senone_segments(ali, tt)
        for p, s, e in phone_instances(ali, tt):
            if p == lang.optional_silence:
                seq = sen.units[(sen.ends > s) & (sen.ends <= e)].tolist()
                assert seq[0] == hmm.pdfs[0] and seq[-1] == hmm.pdfs[4]


def test_silence_rates(world):
    from kaldi_kd.units.from_alignments import silence_rates

    alis = [(f"u{i}", ali) for i, (_, ali) in enumerate(world["alis"])]
    texts = {f"u{i}": w for i, (w, _) in enumerate(world["alis"])}
    rates = silence_rates(alis, texts, world["lang"], world["tm"])
    items = [[w for w, _, _ in word_spans(phone_instances(a, world["tt"]), world["lang"], texts[u])] for u, a in alis]
    assert rates["utterances"] == len(alis)
    assert rates["leading"] == pytest.approx(np.mean([it[0] is None for it in items]))
    inner = sum(sum(i is None for i in it[1:-1]) for it in items)
    assert rates["inner"] == pytest.approx(inner / sum(len(w) - 1 for w in texts.values()))
