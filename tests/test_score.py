"""Scoring: sclite agrees with an independent edit distance, the LMWT sweep finds the
known best, CIs and paired comparisons behave, `kaldi-kd compare` prints the table."""


import numpy as np
import pytest

from kaldi_kd.decode.lattice import CompactLattice
from kaldi_kd.decode.lattice_io import write_compact_lattices
from kaldi_kd.score.ci import bootstrap_wer_ci, paired_bootstrap
from kaldi_kd.score.sclite import run_sclite, write_trn
from kaldi_kd.score.score_dir import ScoringConfig, read_per_utt, score_decode_dir
from kaldi_kd.score.wer import ErrorCounts, count_errors, parse_kaldi_line, total

VOCAB = ["a", "b", "c", "d", "e", "f"]


def random_corpus(rng, n=40):
    refs, hyps, utt2spk = {}, {}, {}
    for i in range(n):
        u = f"s{i % 4}-u{i:03d}"
        ref = list(rng.choice(VOCAB, size=int(rng.integers(1, 9))))
        hyp = [w for w in ref if rng.random() > 0.15]
        hyp = [w if rng.random() > 0.2 else str(rng.choice(VOCAB)) for w in hyp]
        for _ in range(int(rng.integers(0, 3))):
            hyp.insert(int(rng.integers(0, len(hyp) + 1)), str(rng.choice(VOCAB)))
        refs[u], hyps[u], utt2spk[u] = " ".join(ref), " ".join(hyp), f"s{i % 4}"
    return refs, hyps, utt2spk


def test_sclite_matches_kaldialign(tmp_path):
    refs, hyps, utt2spk = random_corpus(np.random.default_rng(0))
    write_trn(tmp_path / "ref.trn", refs, utt2spk)
    write_trn(tmp_path / "hyp.trn", hyps, utt2spk)
    res = run_sclite(tmp_path / "ref.trn", tmp_path / "hyp.trn", tmp_path / "out", "wer_x")
    ours = {u: count_errors(refs[u].split(), hyps[u].split(), sclite_mode=True) for u in refs}
    tot = total(ours.values())
    assert (res.total.ins, res.total.dels, res.total.subs, res.total.ref_words) == \
        (tot.ins, tot.dels, tot.subs, tot.ref_words)
    assert res.total.wer == pytest.approx(tot.wer)
    # Levenshtein (1/1/1) never finds more errors than sclite's 3/3/4 costs
    lev = total(count_errors(refs[u].split(), hyps[u].split()) for u in refs)
    assert lev.errors <= res.total.errors
    assert set(res.utterances) == set(refs)
    assert all(res.utterances[u].errors == ours[u].errors for u in refs)
    assert set(res.speakers) == {"s0", "s1", "s2", "s3"}
    assert sum(c.errors for c in res.speakers.values()) == res.total.errors
    for ext in ("sys", "raw", "dtl", "pra"):
        assert (tmp_path / "out" / f"wer_x.{ext}").is_file()


def test_kaldi_wer_line_round_trip():
    c = ErrorCounts(ins=1, dels=3, subs=1, ref_words=9)
    assert c.kaldi_line() == "%WER 55.56 [ 5 / 9, 1 ins, 3 del, 1 sub ]"
    back = parse_kaldi_line(c.kaldi_line())
    assert (back.ins, back.dels, back.subs, back.ref_words) == (1, 3, 1, 9)


def test_ci_contains_point_and_self_comparison_is_zero():
    refs, hyps, _ = random_corpus(np.random.default_rng(1))
    counts = {u: count_errors(refs[u].split(), hyps[u].split()) for u in refs}
    ci = bootstrap_wer_ci(counts, replications=500)
    assert ci.low <= ci.wer <= ci.high and ci.high - ci.low > 0
    assert ci.wer == pytest.approx(total(counts.values()).wer)
    same = paired_bootstrap(counts, counts, replications=500)
    assert same.diff == 0 and same.low == 0 and same.high == 0 and same.prob_b_better == 0
    perfect = {u: ErrorCounts(0, 0, 0, c.ref_words, 1, 0) for u, c in counts.items()}
    better = paired_bootstrap(counts, perfect, replications=500)
    assert better.diff == pytest.approx(ci.wer) and better.low > 0 and better.prob_b_better > 0.99


def two_path_lattice(right, wrong, n_words=6):
    """Right path: graph 1, acoustic 100; wrong path: graph 10, acoustic 20.
    Under LMWT L the right path wins iff 80 / L < 9, i.e. L >= 9."""
    c = CompactLattice()
    s0, f = c.add_state(), c.add_state()
    c.start = s0
    c.set_final(f, (0.0, 0.0))
    for words, (g, a) in ((right, (1.0, 100.0)), (wrong, (10.0, 20.0))):
        s = s0
        for i, w in enumerate(words):
            d = f if i == len(words) - 1 else c.add_state()
            c.add_arc(s, w, (g, a) if i == 0 else (0.0, 0.0), [i + 1], d)
            s = d
    return c


def make_scored_dir(tmp_path, name, wrong_word):
    data, lang, ddir = tmp_path / "data", tmp_path / "lang", tmp_path / name
    for d in (data, lang, ddir):
        d.mkdir(exist_ok=True)
    (lang / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(["<eps>"] + VOCAB)))
    utts = {f"s{i % 2}-u{i}": [1 + i % 6, 1 + (i + 2) % 6] for i in range(8)}
    (data / "text").write_text("".join(f"{u} {' '.join(VOCAB[w - 1] for w in ws)}\n" for u, ws in sorted(utts.items())))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in sorted(utts)))
    lats = [(u, two_path_lattice(ws, [ws[0], wrong_word])) for u, ws in sorted(utts.items())]
    write_compact_lattices(ddir / "lat.1.gz", lats[:4])
    write_compact_lattices(ddir / "lat.2.gz", lats[4:])
    return data, lang, ddir


def test_lmwt_sweep_picks_known_best(tmp_path):
    data, lang, ddir = make_scored_dir(tmp_path, "decode", wrong_word=6)
    s = score_decode_dir(data, lang, ddir, ScoringConfig(7, 12, (0.0, 0.5), replications=200))
    assert (s.best_lmwt, s.best_wip) == (9, 0.0)
    assert s.best.errors == 0
    assert parse_kaldi_line((ddir / "wer_7_0.0").read_text()).errors > 0
    assert parse_kaldi_line((ddir / "wer_12_0.5").read_text()).errors == 0
    assert (ddir / "scoring_kaldi" / "best_wer").read_text().endswith("wer_9_0.0\n")
    assert (ddir / "scoring_kaldi" / "penalty_0.5" / "7.txt").is_file()
    assert (ddir / "scoring_kaldi" / "sclite" / "wer_9_0.0.dtl").is_file()
    per_utt = read_per_utt(ddir / "scoring_kaldi" / "wer_details" / "per_utt")
    assert len(per_utt) == 8 and all(c.errors == 0 for c in per_utt.values())


def test_compare_command(tmp_path, capsys):
    from kaldi_kd.cli import main

    data, lang, d1 = make_scored_dir(tmp_path, "decode_a", wrong_word=6)
    score_decode_dir(data, lang, d1, ScoringConfig(7, 8, (0.0,), replications=200))
    _, _, d2 = make_scored_dir(tmp_path, "decode_b", wrong_word=6)
    score_decode_dir(data, lang, d2, ScoringConfig(9, 10, (0.0,), replications=200))
    assert main(["compare", str(d1), str(d2), "--replications", "200"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert "decode_a" in lines[2] and "decode_b" in lines[3]
    assert " 0.00 " in lines[3] and "9/0.0" in lines[3]


def test_cli_help_lists_compare():
    from kaldi_kd.cli import build_parser

    assert "compare" in build_parser().format_help()


# (ref, hyp) pairs where sclite's alignment has fewer errors than kaldialign's
# sclite-cost alignment (equal 3/3/4 cost, different error counts): the per-utt
# details once came from kaldialign and disagreed with best_wer
TIE_PAIRS = [("a d e c d a", "b b a c"), ("d a c e d", "a b b c"),
             ("d a c c b", "e a b e d e"), ("b a d c e", "b e b b"), ("a b c", "a b c")]


def linear_lattice(words):
    c = CompactLattice()
    s = c.add_state()
    c.start = s
    for i, w in enumerate(words):
        d = c.add_state()
        c.add_arc(s, w, (1.0, 10.0) if i == 0 else (0.0, 0.0), [i + 1], d)
        s = d
    c.set_final(s, (0.0, 0.0))
    return c


def test_per_utt_and_per_spk_agree_with_best_wer(tmp_path):
    data, lang, ddir = tmp_path / "data", tmp_path / "lang", tmp_path / "decode"
    for d in (data, lang, ddir):
        d.mkdir()
    (lang / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(["<eps>"] + VOCAB)))
    spks = ["flkal16-sp100", "esenf4-sp090"]  # '-' inside speaker ids, utt ids start with them
    utts = {f"{spks[i % 2]}-{i:03d}": p for i, p in enumerate(TIE_PAIRS)}
    (data / "text").write_text("".join(f"{u} {r}\n" for u, (r, _) in sorted(utts.items())))
    (data / "utt2spk").write_text("".join(f"{u} {u.rsplit('-', 1)[0]}\n" for u in sorted(utts)))
    lats = [(u, linear_lattice([VOCAB.index(w) + 1 for w in h.split()])) for u, (_, h) in sorted(utts.items())]
    write_compact_lattices(ddir / "lat.1.gz", lats)
    s = score_decode_dir(data, lang, ddir, ScoringConfig(7, 8, (0.0,), replications=100))
    best = parse_kaldi_line((ddir / "scoring_kaldi" / "best_wer").read_text())
    per_utt = read_per_utt(ddir / "scoring_kaldi" / "wer_details" / "per_utt")
    assert set(per_utt) == set(utts)
    assert sum(c.errors for c in per_utt.values()) == best.errors == s.best.errors
    assert sum(c.ref_words for c in per_utt.values()) == best.ref_words
    assert (per_utt["flkal16-sp100-000"].subs, per_utt["flkal16-sp100-000"].dels) == (3, 2)
    per_spk = (ddir / "scoring_kaldi" / "wer_details" / "per_spk").read_text().splitlines()
    assert sorted(line.split()[0] for line in per_spk) == sorted(spks)
    assert sum(int(line.split()[12]) for line in per_spk) == best.errors
    lines = (ddir / "scoring_kaldi" / "wer_details" / "per_utt").read_text().splitlines()
    ops = {line.split()[0]: line.split()[2:] for line in lines if line.split()[1] == "op"}
    assert all(sum(o != "C" for o in ops[u]) == per_utt[u].errors for u in utts)


def test_trn_ids_group_by_real_speaker(tmp_path):
    from kaldi_kd.score.sclite import trn_id

    assert trn_id("spk1-u00", "spk1") == "spk1-u00"  # no doubled speaker prefix
    assert trn_id("a-b-u00", "a-b") == "a_b-u00"
    assert trn_id("u00", "spk1") == "spk1-u00"
    refs = {"spk1-u00": "a b", "spk1-u01": "c", "x-y-u00": "d e", "u7": "f"}
    hyps = {"spk1-u00": "a", "spk1-u01": "c", "x-y-u00": "d e f", "u7": "f"}
    utt2spk = {"spk1-u00": "spk1", "spk1-u01": "spk1", "x-y-u00": "x-y", "u7": "spk2"}
    write_trn(tmp_path / "ref.trn", refs, utt2spk)
    write_trn(tmp_path / "hyp.trn", hyps, utt2spk)
    assert "(spk1-u00)" in (tmp_path / "ref.trn").read_text()
    res = run_sclite(tmp_path / "ref.trn", tmp_path / "hyp.trn", tmp_path / "out", "w", utt2spk=utt2spk)
    assert set(res.utterances) == set(refs)
    assert {k: v.errors for k, v in res.speakers.items()} == {"spk1": 1, "x-y": 1, "spk2": 0}
    sys_text = (tmp_path / "out" / "w.sys").read_text()
    assert "spk1-spk1" not in (tmp_path / "out" / "w.pra").read_text()
    assert "| spk1 " in sys_text and "| x_y " in sys_text and "| spk2 " in sys_text
