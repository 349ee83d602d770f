"""Data dir load/validate/fix/split: a good dir, malformed ones (messages checked), round trips."""

from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.corpus.tts import write_pcm16
from kaldi_kd.data.datadir import DataDir, DataDirError

SPEAKERS = {"spkA": 3, "spkB": 3, "spkC": 2}


def _write_wav(path: Path, seconds: float, rate: int = 16000) -> None:
    n = int(seconds * rate)
    x = (3000 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.int16)
    write_pcm16(path, x, rate)


def _write(d: Path, name: str, lines) -> None:
    (d / name).write_text("".join(l + "\n" for l in lines))


@pytest.fixture
def good(tmp_path) -> Path:
    """8 utterances of 3 speakers; one wav.scp entry is a pipe."""
    d = tmp_path / "data" / "train"
    d.mkdir(parents=True)
    wavs = tmp_path / "wav"
    wavs.mkdir()
    utts = [f"{s}-{i:03d}" for s, n in sorted(SPEAKERS.items()) for i in range(1, n + 1)]
    for u in utts:
        _write_wav(wavs / f"{u}.wav", 0.5)
    wav_lines = [f"{u} {wavs / u}.wav" for u in utts]
    wav_lines[1] = f"{utts[1]} cat {wavs / utts[1]}.wav |"
    _write(d, "wav.scp", wav_lines)
    _write(d, "text", [f"{u} one two {i}" for i, u in enumerate(utts)])
    _write(d, "utt2spk", [f"{u} {u.split('-')[0]}" for u in utts])
    _write(d, "spk2utt", [f"{s} " + " ".join(u for u in utts if u.startswith(s)) for s in sorted(SPEAKERS)])
    return d


def _lines(d: Path, name: str):
    return (d / name).read_text().splitlines()


def test_good_dir_validates(good):
    d = DataDir.load(good).validate()
    assert d.utts[0] == "spkA-001" and len(d.utts) == 8
    assert d.speakers == ["spkA", "spkB", "spkC"]
    assert d.wav_scp["spkA-002"].endswith("|")


def _empty_transcript(d):
    t = _lines(d, "text")
    t[1] = "spkA-002"
    _write(d, "text", t)


def _unsorted_text(d):
    t = _lines(d, "text")
    t[2], t[3] = t[3], t[2]
    _write(d, "text", t)


def _duplicate_utt2spk(d):
    t = _lines(d, "utt2spk")
    _write(d, "utt2spk", t[:3] + [t[2]] + t[3:])


def _spk2utt_disagrees(d):
    t = _lines(d, "spk2utt")
    t[0] = "spkA spkA-001 spkA-002"
    _write(d, "spk2utt", t)


def _missing_wav_file(d):
    t = _lines(d, "wav.scp")
    t[0] = "spkA-001 /nonexistent/x.wav"
    _write(d, "wav.scp", t)


def _bad_pipe(d):
    t = _lines(d, "wav.scp")
    t[1] = t[1].rstrip("|").rstrip() + " | sox -t wav - -t wav -"
    _write(d, "wav.scp", t)


def _text_extra_utt(d):
    t = _lines(d, "text")
    _write(d, "text", t + ["spkZ-001 nine"])


def _text_missing_utt(d):
    _write(d, "text", _lines(d, "text")[:-1])


def _utt2spk_one_field(d):
    t = _lines(d, "utt2spk")
    t[1] = "spkA-002"
    _write(d, "utt2spk", t)


def _unprefixed_ids(d):
    # speaker ids that sort differently from the utterance ids
    t = _lines(d, "utt2spk")
    t = [l.replace(" spkA", " zzz") for l in t]
    _write(d, "utt2spk", t)
    s = _lines(d, "spk2utt")
    _write(d, "spk2utt", s[1:] + [s[0].replace("spkA ", "zzz ", 1)])


def _cmvn_missing_speaker(d):
    _write(d, "cmvn.scp", ["spkA /x/cmvn.ark:5", "spkB /x/cmvn.ark:99"])


def _segments(d, bad_line: str):
    utts = [l.split()[0] for l in _lines(d, "utt2spk")]
    recos = [l.split()[0] for l in _lines(d, "wav.scp")]
    lines = [f"{u} {r} 0.00 0.40" for u, r in zip(utts, recos)]
    lines[1] = bad_line
    _write(d, "segments", lines)


CASES = [
    (_empty_transcript, ["text:2", "'spkA-002'", "empty transcript"]),
    (_unsorted_text, ["text:4", "not sorted"]),
    (_duplicate_utt2spk, ["utt2spk:4", "duplicate id 'spkA-003'", "first on line 3"]),
    (_spk2utt_disagrees, ["spk2utt:1", "speaker 'spkA'", "spkA-003"]),
    (_missing_wav_file, ["wav.scp:1", "'spkA-001'", "no such file"]),
    (_bad_pipe, ["wav.scp:2", "'spkA-002'", "must end in '|'"]),
    (_text_extra_utt, ["text:9", "'spkZ-001'", "not in utt2spk"]),
    (_text_missing_utt, ["text", "'spkC-002'", "utt2spk line 8", "missing"]),
    (_utt2spk_one_field, ["utt2spk:2", "expected at least 2 fields"]),
    (_unprefixed_ids, ["utt2spk", "sorted the same when sorted by speaker"]),
    (_cmvn_missing_speaker, ["cmvn.scp", "speaker 'spkC' is missing"]),
    (lambda d: _segments(d, "spkA-002 spkA-002 0.30 0.20"), ["segments:2", "'spkA-002'", "start < end"]),
    (lambda d: _segments(d, "spkA-002 spkA-001 0.10 0.90"), ["segments:2", "past the end", "0.500 s"]),
    (lambda d: _segments(d, "spkA-002 nosuchrec 0.10 0.20"), ["segments:2", "'nosuchrec' not in wav.scp"]),
]


@pytest.mark.parametrize("break_it,expected", CASES, ids=[c[0].__name__ for c in CASES])
def test_malformed_dir_names_file_and_line(good, break_it, expected):
    break_it(good)
    with pytest.raises(DataDirError) as err:
        DataDir.load(good).validate()
    msg = str(err.value)
    for part in expected:
        assert part in msg, f"{part!r} not in message:\n{msg}"


def test_missing_utt2spk_is_named(good):
    (good / "utt2spk").unlink()
    with pytest.raises(DataDirError, match="utt2spk: expected file to exist"):
        DataDir.load(good)


def test_fix_drops_exactly_the_inconsistent_ids(good):
    text = _lines(good, "text")
    text[1] = "spkA-002"                                   # empty transcript
    text = [l for l in text if not l.startswith("spkB-002")]  # missing transcript
    text.append("spkZ-009 extra")                          # only in text
    _write(good, "text", sorted(text))
    wav = _lines(good, "wav.scp")
    _write(good, "wav.scp", wav + ["spkZ-010 /x.wav"])      # only in wav.scp
    u2s = _lines(good, "utt2spk")
    _write(good, "utt2spk", u2s[:5] + [u2s[4]] + u2s[5:])  # duplicate line
    d = DataDir.load(good)
    report = d.fix()
    assert d.utts == ["spkA-001", "spkA-003", "spkB-001", "spkB-003", "spkC-001", "spkC-002"]
    dropped = report.dropped
    assert dropped["utts with empty transcripts"] == ["spkA-002"]
    assert dropped["utts missing from text"] == ["spkB-002"]
    assert dropped["utts missing from utt2spk"] == ["spkZ-009", "spkZ-010"]
    assert "recordings in wav.scp without a kept utterance" not in dropped  # no segments: recordings = utts
    assert len(dropped["malformed/duplicate lines in utt2spk"]) == 1
    assert "dropped 1 utts missing from text: spkB-002" in str(report)
    assert (report.num_before, report.num_kept) == (10, 6)
    assert str(report).startswith("kept 6 of 10 utterances")
    DataDir.load(good).validate()
    assert _lines(good, "spk2utt")[0] == "spkA spkA-001 spkA-003"
    assert (good / ".backup" / "text").read_text().count("\n") == 8


def test_fix_with_segments_drops_unused_recordings(good):
    utts = DataDir.load(good).utts
    _write(good, "segments", [f"{u} {u} 0.0 0.3" for u in utts[1:]] + ["zz-001 nosuchrec 0.0 0.1"])
    _write(good, "utt2spk", _lines(good, "utt2spk") + ["zz-001 zz"])
    d = DataDir.load(good)
    report = d.fix()
    assert report.dropped["utts missing from segments"] == ["spkA-001"]
    assert report.dropped["utts missing from text"] == ["zz-001"]
    assert report.dropped["recordings in wav.scp without a kept utterance"] == ["spkA-001"]
    assert sorted(d.wav_scp) == utts[1:]
    d.validate()


def test_fix_drops_speaker_with_no_utterances_and_its_cmvn(good):
    _write(good, "text", [l for l in _lines(good, "text") if not l.startswith("spkC")])
    _write(good, "cmvn.scp", ["spkA a.ark:1", "spkB a.ark:2", "spkC a.ark:3"])
    d = DataDir.load(good)
    report = d.fix()
    assert d.speakers == ["spkA", "spkB"]
    assert report.dropped["speakers in cmvn.scp without a kept utterance"] == ["spkC"]
    assert sorted(DataDir.load(good).cmvn_scp) == ["spkA", "spkB"]


@pytest.mark.parametrize("nj,per_utt", [(2, False), (3, False), (5, True), (8, True)])
def test_split_union_equals_original(good, nj, per_utt):
    d = DataDir.load(good)
    parts = d.split(nj, per_utt=per_utt)
    assert len(parts) == nj
    base = good / f"split{nj}{'utt' if per_utt else ''}"
    assert [p.path for p in parts] == [base / str(n) for n in range(1, nj + 1)]
    union = {}
    for p in parts:
        p.validate()
        assert p.utts, "empty part"
        for name in ("text", "wav.scp", "utt2spk"):
            for k, v in p.tables[name].values.items():
                union.setdefault(name, {})[k] = v
    for name in ("text", "wav.scp", "utt2spk"):
        assert union[name] == d.tables[name].values
    if not per_utt:  # a speaker lies in exactly one part
        owners = {}
        for n, p in enumerate(parts):
            for s in p.speakers:
                assert owners.setdefault(s, n) == n
    sizes = [len(p.utts) for p in parts]
    assert sum(sizes) == 8 and max(sizes) - min(sizes) <= 3


def test_split_more_jobs_than_speakers(good):
    with pytest.raises(DataDirError, match="cannot split 3 speakers into 4 jobs"):
        DataDir.load(good).split(4, strict=True)
    parts = DataDir.load(good).split(4)  # falls back to utterances, same directory name
    assert [len(p.utts) for p in parts] == [2, 2, 2, 2]
    assert parts[0].path == good / "split4" / "1"
    with pytest.raises(DataDirError, match="cannot split 8 utterances into 9 jobs"):
        DataDir.load(good).split(9)


def test_split_reused_when_fresh_and_redone_when_stale(good):
    d = DataDir.load(good)
    d.split(2)
    p = good / "split2" / "1" / "text"
    mtime = p.stat().st_mtime_ns
    DataDir.load(good).split(2)
    assert p.stat().st_mtime_ns == mtime
    _write(good, "text", [l.replace("one two", "nine") for l in _lines(good, "text")])
    DataDir.load(good).split(2)
    assert "nine" in p.read_text()


def test_copy_without_feats(good, tmp_path):
    _write(good, "feats.scp", [f"{u} x.ark:1" for u in DataDir.load(good).utts])
    c = DataDir.load(good).copy(tmp_path / "copy")
    assert not c.has("feats.scp")
    assert c.text == DataDir.load(good).text
    c.validate()
