"""One clear line per bad input: every stage script reports a user error as
``<script>: <file>[:<line> | : utterance '<id>']: <what is wrong> (<what to do>)``,
exits 1 without a traceback and leaves no partial output behind.

Each case runs a ``steps_py/`` script the way its ``__main__`` does
(``run_main(main)``, in this process for speed; two cases run as real subprocesses),
asserts its stderr and that the output directory holds nothing but ``log/``.
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from am_toy import make_toy_corpus, toy_transition_model, write_toy_final_mdl  # noqa: E402
from decode_fixtures import make_decode_setup, random_am  # noqa: E402
from test_teachers import _corpus  # noqa: E402

from kaldi_kd.am.data import transition_id_to_pdf
from kaldi_kd.data.tables import write_table
from kaldi_kd.corpus.tts import write_pcm16
from kaldi_kd.errors import error_lines, is_user_error, run_main

ROOT = Path(__file__).resolve().parents[1]
STEPS = ROOT / "steps_py"
torch.set_num_threads(1)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"steps_{name}", STEPS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_script(name: str, args: List[str], capsys, monkeypatch) -> str:
    """Run steps_py/<name>.py as its __main__ does; assert exit 1 and no traceback; return stderr."""
    mod = _script(name)
    monkeypatch.setattr(sys, "argv", [str(STEPS / f"{name}.py")] + [str(a) for a in args])
    monkeypatch.setattr(logging.root, "handlers", [])    # as in a fresh process (earlier runs' streams are gone)
    monkeypatch.delenv("KALDI_KD_DEBUG", raising=False)
    capsys.readouterr()
    rc = run_main(mod.main)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err
    return err


def assert_line(err: str, script: str, where: str, what: str) -> str:
    """The report line of ``script`` that names ``where`` and says ``what``, with a hint in parentheses."""
    lines = [l for l in err.splitlines() if l.startswith(f"{script}.py: ")]
    hits = [l for l in lines if l.startswith(f"{script}.py: {where}") and what in l]
    assert hits, f"no '{script}.py: {where}...{what}' line in:\n{err}"
    assert re.search(r"\(.+\)$", hits[0]), f"no '(what to do)' at the end of: {hits[0]}"
    return hits[0]


def assert_no_output(d: Path, keep: tuple = ("log",)) -> None:
    """Nothing but ``keep`` (logs) in ``d`` (or ``d`` absent)."""
    if d.exists():
        left = sorted(p.name for p in d.iterdir() if p.name not in keep)
        assert not left, f"partial output left in {d}: {left}"


def snapshot(d: Path) -> dict:
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and "log" not in p.parts}


# ---------------------------------------------------------------------------
# the shared reporter


def test_report_format_and_debug_switch(monkeypatch, capsys):
    from kaldi_kd.errors import InputError, MissingFileError

    err = MissingFileError("exp/x/final.mdl", "run train_mono.py first")
    assert is_user_error(err) and isinstance(err, FileNotFoundError)
    assert error_lines("a.py", err) == ["a.py: exp/x/final.mdl: expected file to exist (run train_mono.py first)"]
    assert error_lines("a.py", InputError("f:1: bad\nf:2: worse\n")) == ["a.py: f:1: bad", "a.py: f:2: worse"]

    def bad():
        raise InputError("data/x/text:3: bad (fix it)")

    assert run_main(bad, "a.py") == 1 and capsys.readouterr().err == "a.py: data/x/text:3: bad (fix it)\n"
    monkeypatch.setenv("KALDI_KD_DEBUG", "1")                 # the switch that shows the traceback
    with pytest.raises(InputError):
        run_main(bad, "a.py")
    monkeypatch.delenv("KALDI_KD_DEBUG")

    def bug():
        raise ZeroDivisionError("a bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        run_main(bug, "a.py")


def test_every_stage_script_reports_through_run_main():
    scripts = sorted(STEPS.glob("*.py")) + sorted((ROOT / "local").glob("*.py"))
    assert len(scripts) > 30
    for p in scripts:
        assert "sys.exit(run_main(main))" in p.read_text(), f"{p} does not end with sys.exit(run_main(main))"


# ---------------------------------------------------------------------------
# data


def _data_dir(root: Path, text: bytes = b"a-1 one two\na-2 three\nb-1 four\n") -> Path:
    d = root / "data" / "x"
    d.mkdir(parents=True)
    for u in ("a-1", "a-2", "b-1"):
        write_pcm16(root / f"{u}.wav", (1000 * np.sin(np.arange(8000) / 7)).astype(np.int16), 16000)
    (d / "wav.scp").write_text("".join(f"{u} {root / u}.wav\n" for u in ("a-1", "a-2", "b-1")))
    (d / "text").write_bytes(text)
    (d / "utt2spk").write_text("a-1 a\na-2 a\nb-1 b\n")
    (d / "spk2utt").write_text("a a-1 a-2\nb b-1\n")
    return d


def test_non_utf8_text(tmp_path, capsys, monkeypatch):
    d = _data_dir(tmp_path, b"a-1 one two\na-2 caf\xe9 three\nb-1 four\n")
    err = run_script("validate_data_dir", [d], capsys, monkeypatch)
    assert_line(err, "validate_data_dir", f"{d}/text:2:", "not valid UTF-8 (byte 0xe9 at column 8")
    before = snapshot(d)
    err = run_script("make_feats", ["--nj", "1", d, tmp_path / "log", tmp_path / "mfcc"], capsys, monkeypatch)
    assert_line(err, "make_feats", f"{d}/text:2:", "not valid UTF-8")
    assert snapshot(d) == before and not (tmp_path / "mfcc").exists()


def test_duplicate_utterance_id(tmp_path, capsys, monkeypatch):
    d = _data_dir(tmp_path, b"a-1 one\na-1 two\na-2 three\nb-1 four\n")
    err = run_script("validate_data_dir", [d], capsys, monkeypatch)
    assert_line(err, "validate_data_dir", f"{d}/text:2:", "duplicate id 'a-1', first on line 1")


def test_unsorted_utt2spk(tmp_path, capsys, monkeypatch):
    d = _data_dir(tmp_path)
    (d / "utt2spk").write_text("a-2 a\na-1 a\nb-1 b\n")
    err = run_script("validate_data_dir", [d], capsys, monkeypatch)
    assert_line(err, "validate_data_dir", f"{d}/utt2spk:2:", "ids not sorted")


def test_empty_transcript(tmp_path, capsys, monkeypatch):
    d = _data_dir(tmp_path, b"a-1 one\na-2\nb-1 four\n")
    err = run_script("validate_data_dir", [d], capsys, monkeypatch)
    assert_line(err, "validate_data_dir", f"{d}/text:2:", "empty transcript")


def test_missing_wav(tmp_path, capsys, monkeypatch):
    d = _data_dir(tmp_path)
    (tmp_path / "a-2.wav").unlink()
    before = snapshot(d)
    err = run_script("make_feats", ["--nj", "2", d, tmp_path / "log", tmp_path / "mfcc"], capsys, monkeypatch)
    assert_line(err, "make_feats", f"{d}/wav.scp:2:", "recording 'a-2': no such file")
    assert snapshot(d) == before
    assert_no_output(tmp_path / "mfcc")


def test_8khz_stereo_wav(tmp_path, capsys, monkeypatch):
    d = _data_dir(tmp_path)
    stereo = (1000 * np.sin(np.arange(8000) / 5)).astype(np.int16).repeat(2).reshape(-1, 2)
    write_pcm16(tmp_path / "b-1.wav", stereo, 8000)
    err = run_script("make_feats", ["--nj", "1", d, tmp_path / "log", tmp_path / "mfcc"], capsys, monkeypatch)
    assert_line(err, "make_feats", f"{d}/split1utt/1: utterance 'b-1'", "sample rate 8000 Hz does not match")
    assert not (d / "feats.scp").exists()
    assert_no_output(tmp_path / "mfcc")


# ---------------------------------------------------------------------------
# lang


def _dict_dir(root: Path, lexicon: str) -> Path:
    d = root / "dict"
    d.mkdir(parents=True)
    (d / "lexicon.txt").write_text("<UNK> SPN\n!SIL SIL\n" + lexicon)
    (d / "silence_phones.txt").write_text("SIL\nSPN\n")
    (d / "optional_silence.txt").write_text("SIL\n")
    (d / "nonsilence_phones.txt").write_text("a\nb\nc\n")
    return d


def test_lexicon_phone_not_in_phone_lists(tmp_path, capsys, monkeypatch):
    d = _dict_dir(tmp_path, "ab a b\nbc b c\ncz c z\n")
    err = run_script("prepare_lang", [d, "<UNK>", tmp_path / "lang"], capsys, monkeypatch)
    assert_line(err, "prepare_lang", f"{d}/lexicon.txt:5:", "phone 'z' of 'cz' not in")
    assert_no_output(tmp_path / "lang")


def test_malformed_arpa(tmp_path, capsys, monkeypatch):
    from gmm_corpus import make_lang

    lang = make_lang(tmp_path)
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-0.5 ab\n-0.5 cd\nabc be\n\n\\end\\\n")
    err = run_script("make_G", ["--arpa", arpa, lang, tmp_path / "lang_test"], capsys, monkeypatch)
    assert_line(err, "make_G", f"{arpa}:7:", "'abc' is not a number")
    assert_no_output(tmp_path / "lang_test")


# ---------------------------------------------------------------------------
# GMM


@pytest.fixture(scope="module")
def gmm(tmp_path_factory):
    """A lang dir, 13-dim and 10-dim data dirs, a 3-iteration monophone system on the 13-dim one."""
    from gmm_corpus import make_data, make_lang

    root = tmp_path_factory.mktemp("gmm")
    lang = make_lang(root)
    d13, d10 = make_data(root / "d13", dim=13), make_data(root / "d10", dim=10, seed=1)
    from kaldi_kd.gmm.train_mono import MonoConfig, train_mono

    train_mono(d13, lang, root / "mono", MonoConfig(num_iters=3, totgauss=40), nj=1)
    return {"lang": lang, "d13": d13, "d10": d10, "mono": root / "mono"}


def test_gmm_align_features_of_another_dim(gmm, tmp_path, capsys, monkeypatch):
    out = tmp_path / "mono_ali"
    err = run_script("align_si", ["--nj", "1", gmm["d10"], gmm["lang"], gmm["mono"], out], capsys, monkeypatch)
    assert_line(err, "align_si", f"{gmm['d10']}/feats.scp:", "features of dim 30")
    assert "39-dim Gaussians" in err
    assert_no_output(out)


def test_gmm_training_without_cmvn(gmm, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(gmm["d13"], data)
    (data / "cmvn.scp").unlink()
    out = tmp_path / "mono"
    err = run_script("train_mono", ["--nj", "1", data, gmm["lang"], out], capsys, monkeypatch)
    assert_line(err, "train_mono", f"{data}/cmvn.scp:", "expected file to exist")
    assert_no_output(out)


# ---------------------------------------------------------------------------
# acoustic model


AM_CONF = ("model:\n  type: tdnn\n  hidden_dim: 16\n  num_layers: 3\ndata:\n  max_frames: 300\n"
           "num_epochs: 1\nprior_utts: 4\n")


def _narrow(src: Path, dst: Path, cols: int) -> Path:
    """A copy of data dir ``src`` keeping the first ``cols`` feature columns (other features, same frames)."""
    from kaldi_kd.data.tables import read_table_dict

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.ark", "*.scp"))
    feats = read_table_dict(f"scp:{src / 'feats.scp'}")
    write_table(dst / "feats.ark", ((u, feats[u][:, :cols]) for u in sorted(feats)), scp=dst / "feats.scp")
    cmvn = read_table_dict(f"scp:{src / 'cmvn.scp'}")
    dim = next(iter(feats.values())).shape[1]
    keep = list(range(cols)) + [dim]
    write_table(dst / "cmvn.ark", ((s, cmvn[s][:, keep]) for s in sorted(cmvn)), scp=dst / "cmvn.scp")
    return dst


@pytest.fixture(scope="module")
def am(tmp_path_factory):
    """Toy data (dim 8) + alignments + a trained 1-epoch TDNN exp; the same utterances with 5-dim features."""
    root = tmp_path_factory.mktemp("am")
    tm = toy_transition_model()
    data, ali, _ = make_toy_corpus(root, transition_id_to_pdf(tm), num_utts=12)
    write_toy_final_mdl(ali / "final.mdl", tm)
    conf = root / "am.yaml"
    conf.write_text(AM_CONF)
    exp = root / "exp"
    mod = _script("train_am")
    assert mod.main(["--config", str(conf), str(data), str(ali), str(exp)]) == 0
    return {"data": data, "ali": ali, "conf": conf, "exp": exp, "narrow": _narrow(data, root / "narrow", 5),
            "tm": tm}


def test_am_yaml_typo(am, tmp_path, capsys, monkeypatch):
    conf = tmp_path / "am.yaml"
    conf.write_text(AM_CONF.replace("  hidden_dim: 16", "  hiden_dim: 16"))
    out = tmp_path / "exp"
    err = run_script("train_am", ["--config", conf, am["data"], am["ali"], out], capsys, monkeypatch)
    assert_line(err, "train_am", f"{conf}:3:", "unknown config key 'model.hiden_dim' (check the spelling")
    assert_no_output(out)


def test_am_aux_head_above_the_top_layer(am, tmp_path, capsys, monkeypatch):
    out, teacher = tmp_path / "exp", tmp_path / "lm_senone"
    teacher.mkdir()
    (teacher / "teacher.pt").write_bytes(b"")          # never read: the heads are checked first
    err = run_script("train_am", ["--config", am["conf"], "--aux-heads", "senone@9", "--teacher",
                                  f"senone={teacher}", am["data"], am["ali"], out], capsys, monkeypatch)
    assert_line(err, "train_am", "aux head 'senone@9'", "layer 9 out of range, the encoder has layers 1..3")
    assert_no_output(out)


def test_am_resume_with_features_of_another_dim(am, tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    shutil.copytree(am["exp"], exp)
    before = snapshot(exp)
    err = run_script("train_am", ["--resume", "--config", am["conf"], am["narrow"], am["ali"], exp],
                     capsys, monkeypatch)
    assert_line(err, "train_am", f"{am['narrow']}/feats.scp:", "features of dim 5")
    assert "expects dim 8" in err
    assert snapshot(exp) == before                      # config.yaml, priors, checkpoints untouched


def test_nnet_forward_features_of_another_dim(am, tmp_path, capsys, monkeypatch):
    out = tmp_path / "loglikes"
    err = run_script("nnet_forward", ["--nj", "2", am["narrow"], am["exp"], out], capsys, monkeypatch)
    assert_line(err, "nnet_forward", f"{am['narrow']}/feats.scp:", "features of dim 5")
    assert "expects dim 8" in err
    assert_no_output(out)
    err = run_script("compute_priors", [am["narrow"], am["exp"]], capsys, monkeypatch)
    assert_line(err, "compute_priors", f"{am['narrow']}/feats.scp:", "features of dim 5")


def test_am_truncated_feature_ark(am, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(am["data"], data)
    scp = (data / "feats.scp").read_text().replace(str(am["data"]), str(data))
    (data / "feats.scp").write_text(scp)
    ark = data / "feats.ark"
    ark.write_bytes(ark.read_bytes()[: ark.stat().st_size // 2])
    out = tmp_path / "exp"
    err = run_script("train_am", ["--config", am["conf"], data, am["ali"], out], capsys, monkeypatch)
    assert_line(err, "train_am", f"{data}/feats.scp", "corrupt or unreadable")
    assert_no_output(out)


def test_am_alignments_of_another_model(am, tmp_path, capsys, monkeypatch):
    from kaldi_kd.data.tables import read_int_vectors, write_int_vectors

    ali = tmp_path / "ali"
    shutil.copytree(am["ali"], ali)
    items = list(read_int_vectors(str(ali / "ali.1.gz")))
    utt, tids = items[0]
    items[0] = (utt, tids + 1000)
    write_int_vectors(ali / "ali.1.gz", items)
    out = tmp_path / "exp"
    err = run_script("train_am", ["--config", am["conf"], am["data"], ali, out], capsys, monkeypatch)
    assert_line(err, "train_am", f"{ali}/ali.1.gz: utterance '{utt}'", "transition-ids outside")
    assert_no_output(out)


# ---------------------------------------------------------------------------
# teachers


LM_CONF = "kind: bidir\nd_model: 16\nn_heads: 2\nn_layers: 1\nd_ff: 32\nmax_steps: 2\nnum_threads: 1\n"


def test_lm_yaml_typo(tmp_path, capsys, monkeypatch):
    corpus = _corpus(tmp_path / "corpus", n_train=20, n_valid=4)
    conf = tmp_path / "lm.yaml"
    conf.write_text(LM_CONF.replace("n_layers", "nlayers"))
    err = run_script("train_lm", ["--config", conf, corpus, tmp_path / "lm"], capsys, monkeypatch)
    assert_line(err, "train_lm", f"{conf}", "unknown LM config keys ['nlayers']")
    assert_no_output(tmp_path / "lm")


def test_lm_unit_id_outside_vocabulary(tmp_path, capsys, monkeypatch):
    corpus = _corpus(tmp_path / "corpus", n_train=20, n_valid=4)
    with gzip.open(corpus / "train.txt.gz", "at") as f:
        f.write("1 2 99 3\n")
    conf = tmp_path / "lm.yaml"
    conf.write_text(LM_CONF)
    err = run_script("train_lm", ["--config", conf, corpus, tmp_path / "lm"], capsys, monkeypatch)
    assert_line(err, "train_lm", f"{corpus}/train.txt.gz:21:", "unit id outside 0..9")
    assert_no_output(tmp_path / "lm")


def test_lm_ppl_units_of_another_vocabulary(tmp_path, capsys, monkeypatch):
    from kaldi_kd.lm.corpus import write_vocab
    from kaldi_kd.lm.train import LMConfig, train_lm

    corpus = _corpus(tmp_path / "corpus", n_train=20, n_valid=4)
    train_lm(corpus, tmp_path / "lm", LMConfig(**yaml.safe_load(LM_CONF)), progress=False)
    units = tmp_path / "units"
    units.mkdir()
    write_vocab(units / "units.txt", [f"x{i}" for i in range(10)])
    err = run_script("lm_ppl", [tmp_path / "lm", units], capsys, monkeypatch)
    assert_line(err, "lm_ppl", f"{units}/units.txt:", "differs from")


# ---------------------------------------------------------------------------
# decode and score


@pytest.fixture(scope="module")
def dec(tmp_path_factory):
    root = tmp_path_factory.mktemp("dec")
    s = make_decode_setup(root, num_utts=4, num_jobs=1)
    s["graph"].joinpath("num_pdfs").write_text(f"{s['system'].trans_model.num_pdfs}\n")   # as mkgraph writes it
    from kaldi_kd.decode.toy import DIGITS_LEXICON, build_toy_system
    from kaldi_kd.gmm.model_io import write_model

    other = build_toy_system(DIGITS_LEXICON, 14).trans_model                              # another tree
    (root / "other").mkdir()
    write_model(root / "other" / "final.mdl", other, random_am(other))
    s["other_model"] = root / "other" / "final.mdl"
    return s


def test_decode_graph_of_another_model(dec, tmp_path, capsys, monkeypatch):
    out = tmp_path / "decode"
    err = run_script("decode", ["--nj", "1", "--trans-model", dec["other_model"], dec["graph"], dec["data"],
                                dec["loglikes"], out], capsys, monkeypatch)
    n = dec["system"].trans_model.num_pdfs
    assert_line(err, "decode", f"{dec['graph']}/num_pdfs", f"says {n} pdfs")
    assert_line(err, "decode", f"{dec['loglikes']}/loglikes.1.ark: utterance", f"has {n} columns")
    assert_no_output(out)


def test_decode_loglikes_of_another_model(dec, tmp_path, capsys, monkeypatch):
    from kaldi_kd.data.tables import read_table_dict

    ll = tmp_path / "loglikes"
    ll.mkdir()
    m = read_table_dict(f"ark:{dec['loglikes'] / 'loglikes.1.ark'}")
    write_table(ll / "loglikes.1.ark", ((u, np.hstack([x, x[:, :5]])) for u, x in sorted(m.items())),
                scp=ll / "loglikes.1.scp")
    out = tmp_path / "decode"
    err = run_script("decode", ["--nj", "1", "--trans-model", dec["model"], dec["graph"], dec["data"], ll, out],
                     capsys, monkeypatch)
    assert_line(err, "decode", f"{ll}/loglikes.1.scp: utterance", f"{dec['system'].trans_model.num_pdfs + 5} columns")
    assert_no_output(out)


def test_score_without_lattices(dec, tmp_path, capsys, monkeypatch):
    out = tmp_path / "decode"
    out.mkdir()
    err = run_script("score", [dec["data"], dec["graph"], out], capsys, monkeypatch)
    assert_line(err, "score", f"{out}/lat.*.gz:", "no lattices")
    assert_no_output(out)


def test_score_without_reference_text(dec, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(dec["data"], data)
    (data / "text").unlink()
    out = tmp_path / "decode"
    shutil.copytree(dec["loglikes"], out)      # any dir; scoring stops at the missing text first
    err = run_script("score", [data, dec["graph"], out], capsys, monkeypatch)
    assert_line(err, "score", f"{data}/text:", "expected file to exist")


def test_compare_unscored_dir(tmp_path, capsys):
    from kaldi_kd.cli import main as kaldi_kd_main

    (tmp_path / "decode").mkdir()
    capsys.readouterr()
    assert kaldi_kd_main(["compare", str(tmp_path / "decode")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kaldi-kd: {tmp_path}/decode/scoring_kaldi/best_wer: expected file to exist (")
    assert "Traceback" not in err


# ---------------------------------------------------------------------------
# as a user sees it: a real process


def test_subprocess_prints_one_line_without_traceback(am, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("KALDI_KD_DEBUG", None)
    conf = tmp_path / "am.yaml"
    conf.write_text(AM_CONF.replace("num_epochs: 1", "num_epochs: one"))
    cmd = [sys.executable, str(STEPS / "train_am.py"), "--config", str(conf), str(am["data"]), str(am["ali"]),
           str(tmp_path / "exp")]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1] == (f"train_am.py: {conf}:7: num_epochs: cannot convert 'one' to int")
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(env, KALDI_KD_DEBUG="1"))
    assert p.returncode == 1 and "Traceback" in p.stderr and "ConfigError" in p.stderr
