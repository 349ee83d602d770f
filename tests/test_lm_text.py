"""LM text: number words, normalisation, R data reading, merge/dedup/exclusion, resumability."""

import gzip
import struct
from pathlib import Path

import pytest

from kaldi_kd.corpus import lm_sources, lm_text
from kaldi_kd.corpus.lm_text import (LMTextConfig, build_lm_text, exclude_from_lm_text, merge_lm_text,
                                     read_sentences, write_sentences)
from kaldi_kd.corpus.normalize import normalize_sentence, text_to_sentences
from kaldi_kd.corpus.numbers import number_to_words, ordinal_to_words, year_to_words
from kaldi_kd.corpus.rdata import RDataError, read_lazyload, unserialize


@pytest.mark.parametrize("n,words", [
    (0, "ZERO"), (13, "THIRTEEN"), (40, "FORTY"), (99, "NINETY NINE"), (100, "ONE HUNDRED"),
    (101, "ONE HUNDRED ONE"), (1000, "ONE THOUSAND"), (2005, "TWO THOUSAND FIVE"),
    (12345, "TWELVE THOUSAND THREE HUNDRED FORTY FIVE"), (1000000, "ONE MILLION"),
    (3000000021, "THREE BILLION TWENTY ONE"), (-7, "MINUS SEVEN")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_years_and_ordinals():
    assert year_to_words(1984) == "NINETEEN EIGHTY FOUR"
    assert year_to_words(1905) == "NINETEEN OH FIVE"
    assert year_to_words(1900) == "NINETEEN HUNDRED"
    assert year_to_words(2008) == "TWO THOUSAND EIGHT"
    assert year_to_words(2015) == "TWENTY FIFTEEN"
    assert [ordinal_to_words(n) for n in (1, 2, 3, 5, 12, 20, 21, 100)] == [
        "FIRST", "SECOND", "THIRD", "FIFTH", "TWELFTH", "TWENTIETH", "TWENTY FIRST", "ONE HUNDREDTH"]


@pytest.mark.parametrize("raw,norm", [
    ("It's easy to tell the depth of a well.", "IT'S EASY TO TELL THE DEPTH OF A WELL"),
    ("In 1998 they spent $3.5 billion", "IN NINETEEN NINETY EIGHT THEY SPENT THREE POINT FIVE BILLION DOLLARS"),
    ("He paid $12.50 for 1,200 eggs", "HE PAID TWELVE DOLLARS AND FIFTY CENTS FOR ONE THOUSAND TWO HUNDRED EGGS"),
    ("99.44% pure", "NINETY NINE POINT FOUR FOUR PERCENT PURE"),
    ("the 2nd and 21st days", "THE SECOND AND TWENTY FIRST DAYS"),
    ("Mr. Smith met Dr. Jones", "MISTER SMITH MET DOCTOR JONES"),
    ("the U.S. and John F. Kennedy", "THE U S AND JOHN F KENNEDY"),
    ("'Tis the rock-bottom 'price'--never mind", "TIS THE ROCK BOTTOM PRICE NEVER MIND"),
    ("Caf\u00e9 na\u00efve \u2018quoted\u2019 don\u2019t", "CAFE NAIVE QUOTED DON'T"),
    ("Agent 007 & friends; (really)!", "AGENT ZERO ZERO SEVEN AND FRIENDS REALLY"),
])
def test_normalize_sentence(raw, norm):
    assert normalize_sentence(raw) == norm


def test_text_to_sentences_split_and_length_filter():
    text = ("Call me Ishmael. Some years ago, never mind how long, I went to sea! Why? "
            "Short. " + "word " * 60 + "; and a clause with enough words here.")
    got = [" ".join(s) for s in text_to_sentences(text, min_words=3, max_words=50)]
    assert got == ["CALL ME ISHMAEL", "SOME YEARS AGO NEVER MIND HOW LONG I WENT TO SEA",
                   "AND A CLAUSE WITH ENOUGH WORDS HERE"]
    assert all(w == w.upper() for s in got for w in s.split())


def _xdr_strings(values):
    """R XDR serialisation (version 2) of a character vector, built by hand."""
    out = b"X\n" + struct.pack(">iii", 2, 0x40202, 0x20300) + struct.pack(">ii", 16, len(values))
    for v in values:
        b = v.encode()
        out += struct.pack(">ii", 0x40009, len(b)) + b
    return out


def test_unserialize_character_vector():
    assert unserialize(_xdr_strings(["The birch canoe.", "Glue the sheet."])) == [
        "The birch canoe.", "Glue the sheet."]
    with pytest.raises(RDataError):
        unserialize(b"A\nnot xdr")


def test_harvard_sentences_from_stringr():
    base = Path(lm_sources.SourceConfig().stringr_data)
    if not base.with_suffix(".rdx").is_file():
        pytest.skip("Debian r-cran-stringr is not installed (Harvard sentences)")
    s = read_lazyload(base, "sentences")
    assert len(s) == 720 and s[0] == "The birch canoe slid on the smooth planks."
    with pytest.raises(RDataError, match="no data set"):
        read_lazyload(base, "nonexistent")


def test_merge_dedups_and_excludes(tmp_path):
    write_sentences(tmp_path / "sources" / "a.txt.gz", ["ONE TWO THREE", "FOUR FIVE SIX", "ONE TWO THREE"])
    write_sentences(tmp_path / "sources" / "b.txt.gz", ["FOUR FIVE SIX", "SEVEN EIGHT NINE TEN", "TEST ME NOW"])
    counts = merge_lm_text(tmp_path, ["a", "b", "missing"], exclude={"TEST ME NOW"})
    assert list(read_sentences(tmp_path / "lm_text.txt.gz")) == [
        "ONE TWO THREE", "FOUR FIVE SIX", "SEVEN EIGHT NINE TEN"]
    assert counts["a"]["kept_words"] == 6 and counts["b"]["kept_words"] == 4
    assert counts["b"]["excluded"] == 1 and counts["total"]["words"] == 19
    assert "missing" not in counts


def _fake_sources(monkeypatch, calls):
    def src(name, chunks):
        def read(cfg):
            calls.append(name)
            yield from chunks
        return read
    monkeypatch.setattr(lm_sources, "SOURCES", {
        "alpha": src("alpha", ["The 1st test was easy. It took 3 minutes!", "Short."]),
        "beta": src("beta", ["It took 3 minutes! The held out sentence is here."]),
    })
    monkeypatch.setattr(lm_text, "SOURCES", lm_sources.SOURCES)


def test_build_is_resumable_deterministic_and_keeps_exclusions(tmp_path, monkeypatch):
    calls = []
    _fake_sources(monkeypatch, calls)
    cfg = LMTextConfig(sources=["alpha", "beta", "gamma"], min_words=2, min_total_words=1)
    with pytest.raises(ValueError, match="unknown LM text source 'gamma'"):
        build_lm_text(tmp_path, cfg)
    cfg.sources = ["alpha", "beta"]
    counts = build_lm_text(tmp_path, cfg)
    lines = list(read_sentences(tmp_path / "lm_text.txt.gz"))
    assert lines == ["THE FIRST TEST WAS EASY", "IT TOOK THREE MINUTES", "THE HELD OUT SENTENCE IS HERE"]
    assert counts["total"]["kept_words"] == 15 and calls == ["alpha", "beta"]
    first = (tmp_path / "lm_text.txt.gz").read_bytes()

    exclude_from_lm_text(tmp_path, {"THE HELD OUT SENTENCE IS HERE"})
    assert "THE HELD OUT SENTENCE IS HERE" not in set(read_sentences(tmp_path / "lm_text.txt.gz"))
    build_lm_text(tmp_path, cfg)  # rerun: cached sources, exclusion remembered
    assert calls == ["alpha", "beta"]
    assert list(read_sentences(tmp_path / "lm_text.txt.gz")) == lines[:2]
    (tmp_path / "excluded.txt").unlink()
    build_lm_text(tmp_path, cfg)
    assert (tmp_path / "lm_text.txt.gz").read_bytes() == first  # byte-identical rebuild


def test_unavailable_source_is_skipped(tmp_path, monkeypatch, caplog):
    def missing(cfg):
        raise lm_sources.SourceUnavailable("kjv: command 'bible' not found")
        yield  # pragma: no cover
    monkeypatch.setattr(lm_text, "SOURCES", {"kjv": missing,
                                             "ok": lambda cfg: iter(["A fine sentence here."])})
    counts = build_lm_text(tmp_path, LMTextConfig(sources=["kjv", "ok"], min_total_words=1))
    assert counts["total"]["kept_words"] == 4 and "kjv" not in counts
    assert "kjv: command 'bible' not found" in caplog.text
    with gzip.open(tmp_path / "lm_text.txt.gz", "rt") as f:
        assert f.read() == "A FINE SENTENCE HERE\n"
