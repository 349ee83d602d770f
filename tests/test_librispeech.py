"""LibriSpeech recipe stages on a fake mini LibriSpeech tree (real layout, flite speech in flac).

data prep -> validate -> MFCC -> dict from the corpus lexicon -> lang -> G from a tgsmall-style
ARPA; LM text subsampling; (slow) monophone GMM, graph, decoding and scoring.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst  # noqa: F401  (import order)
from kaldi_kd.corpus.librispeech import (LibriSpeechError, part_to_data_name, prepare_librispeech_part,
                                         read_speakers_file, subsample_lm_text, wav_command)
from kaldi_kd.data.datadir import DataDir
from kaldi_kd.data.wav import read_wav_entry
from kaldi_kd.gmm.fstutils import read_fst, relabel_input
from kaldi_kd.gmm.lang import Lang

from librispeech_fake import CORPUS, LEXICON, LM_SENTENCES, make_fake_librispeech, utt_ids, write_tgsmall

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "librispeech" / "s5"
pytestmark = pytest.mark.skipif(not all(map(lambda t: subprocess.run(["which", t], capture_output=True).returncode == 0,
                                            ("flite", "sox"))), reason="needs flite and sox")


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, f"{script} failed:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def libri(tmp_path_factory):
    """The fake corpus, its data dirs with MFCC features, dict, lang and lang_test (tgsmall)."""
    tmp = tmp_path_factory.mktemp("libri")
    corpus = make_fake_librispeech(tmp / "db")
    arpa = write_tgsmall(tmp / "db")
    for part in CORPUS:
        name = part_to_data_name(part)
        run("local/librispeech_data_prep.py", str(corpus / part), f"data/{name}", cwd=tmp)
        run("steps_py/make_feats.py", "--feat-type", "mfcc", "--config", str(RECIPE / "conf" / "mfcc.conf"),
            "--nj", "2", f"data/{name}", f"exp/make_mfcc/{name}", "mfcc", cwd=tmp)
        run("steps_py/compute_cmvn_stats.py", f"data/{name}", f"exp/make_mfcc/{name}", "mfcc", cwd=tmp)
        run("steps_py/validate_data_dir.py", f"data/{name}", cwd=tmp)
    run("steps_py/prepare_dict.py", "--lexicon", str(tmp / "db" / "librispeech-lexicon.txt"),
        "data/train_clean_100/text", "data/local/dict", cwd=tmp)
    run("steps_py/prepare_lang.py", "data/local/dict", "<UNK>", "data/lang", cwd=tmp)
    run("steps_py/make_G.py", "--arpa", str(arpa), "data/lang", "data/lang_test_tgsmall", cwd=tmp)
    return tmp


def _lines(path: Path) -> list:
    return path.read_text().splitlines()


def test_data_prep_ids_speakers_gender(libri):
    d = DataDir.load(libri / "data" / "train_clean_100")
    assert d.utts == utt_ids("train-clean-100")
    assert d.utts[:3] == ["103-1240-0000", "103-1240-0001", "103-1240-0002"]
    # Kaldi's speaker = reader-chapter: reader 19 has two chapters -> two speakers
    assert d.speakers == ["103-1240", "1088-134315", "19-198", "19-227"]
    assert all(u.startswith(d.utt2spk[u] + "-") for u in d.utts)
    assert _lines(libri / "data" / "train_clean_100" / "spk2gender") == [
        "103-1240 f", "1088-134315 m", "19-198 f", "19-227 f"]
    assert d.text["1088-134315-0001"] == "THE ZORBLAX RAN"
    entry = d.wav_scp["103-1240-0000"]
    assert entry.endswith("|") and "103/1240/103-1240-0000.flac" in entry
    assert entry.split()[0] in ("flac", "sox")
    samples, rate = read_wav_entry(entry)
    assert rate == 16000 and len(samples) > 8000 and np.abs(samples).max() > 100  # speech, 16-bit scale
    assert DataDir.load(libri / "data" / "dev_clean").utts == utt_ids("dev-clean")
    assert DataDir.load(libri / "data" / "test_clean").speakers == ["1089-134686"]


def test_feature_frames_match_audio(libri):
    d = DataDir.load(libri / "data" / "train_clean_100")
    frames = d.utt2num_frames()
    assert sorted(frames) == d.utts
    for utt in d.utts[:3]:
        n = len(read_wav_entry(d.wav_scp[utt])[0])
        assert frames[utt] == 1 + (n - 400) // 160  # Kaldi's snip-edges framing, 25/10 ms
    from kaldi_kd.data.features import FeatureReader

    feats = FeatureReader(d.path, cmvn=True, deltas=0)
    x = feats[d.utts[0]]
    assert x.shape == (frames[d.utts[0]], 13) and abs(float(x.mean())) < 0.5


def test_dict_from_lexicon_stress_groups_and_g2p(libri):
    dct = libri / "data" / "local" / "dict"
    lex = _lines(dct / "lexicon.txt")
    assert "!SIL SIL" in lex and "<UNK> SPN" in lex and "<SPOKEN_NOISE> SPN" in lex
    assert "THE DH AH0" in lex and "THE DH IY0" in lex and "HOUSE HH AW1 S" in lex  # whole lexicon kept
    zorb = [x for x in lex if x.startswith("ZORBLAX ")]
    assert len(zorb) == 1 and len(zorb[0].split()) > 3  # letter-to-sound for the missing word
    groups = _lines(dct / "nonsilence_phones.txt")
    assert "AH AH0" in groups and "AE AE1" in groups and "IY IY0 IY1" in groups
    questions = _lines(dct / "extra_questions.txt")
    assert questions[0] == "SIL SPN" and any("AH0" in q.split() and "IY0" in q.split() for q in questions)
    lang = Lang(libri / "data" / "lang")
    assert "AH0_B" in lang.phones and "SIL" in lang.phones
    assert set(LEXICON) | {"ZORBLAX", "<UNK>", "!SIL"} <= set(lang.words)


def test_G_from_tgsmall_accepts_transcripts(libri):
    lang = Lang(libri / "data" / "lang_test_tgsmall")
    G = relabel_input(read_fst(lang.dir / "G.fst"), {lang.words["#0"]: 0})
    kaldifst.arcsort(G, sort_type="ilabel")

    def accepts(words):
        return kaldifst.compose(kaldifst.make_linear_acceptor(lang.word_ids(words)), G).num_states > 0

    for part in ("dev-clean", "test-clean"):
        for *_, sents in CORPUS[part]:
            for s in sents:
                assert accepts(s.split()), s
    assert accepts("THE HOUSE IS GREEN".split())
    assert accepts("HOUSE HOUSE".split())  # unseen bigram: backoff
    assert not accepts(["THE", "ZORBLAX"])  # in words.txt (lexicon), not in the ARPA


def test_lm_text_subsampling(libri, tmp_path):
    src = libri / "db" / "librispeech-lm-norm.txt.gz"
    lines, words = subsample_lm_text(src, tmp_path / "lm.txt.gz", max_words=20, stride=2)
    with gzip.open(tmp_path / "lm.txt.gz", "rt") as f:
        kept = f.read().splitlines()
    assert kept == (LM_SENTENCES * 3)[0:2 * lines:2] and words == sum(len(s.split()) for s in kept) >= 20
    assert words - len(kept[-1].split()) < 20  # stopped at the cap
    run("local/librispeech_lm_text.py", "--lm-text-words", "0", str(src), str(tmp_path / "all.txt"), cwd=tmp_path)
    assert _lines(tmp_path / "all.txt") == LM_SENTENCES * 3


def test_malformed_corpus_errors_name_the_file(tmp_path):
    part = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    part.mkdir(parents=True)
    (part / "84-121123.trans.txt").write_text("84-121123-0000 HELLO\n")
    with pytest.raises(LibriSpeechError, match=r"84-121123.trans.txt:1: expected audio .*84-121123-0000.flac"):
        prepare_librispeech_part(tmp_path / "LibriSpeech" / "dev-clean", tmp_path / "data")
    (part / "84-121123.trans.txt").write_text("84-999-0000 HELLO\n")
    with pytest.raises(LibriSpeechError, match="not prefixed by '84-121123-'"):
        prepare_librispeech_part(tmp_path / "LibriSpeech" / "dev-clean", tmp_path / "data")
    (tmp_path / "S.TXT").write_text(";comment\n84 | X | dev-clean | 8.0 | Name\n")
    with pytest.raises(LibriSpeechError, match=r"S.TXT:2: sex must be M or F"):
        read_speakers_file(tmp_path / "S.TXT")
    with pytest.raises(LibriSpeechError, match="unknown flac decoder"):
        wav_command(part / "x.flac", "ffmpeg")


def test_recipe_configs_load(tmp_path):
    """conf/*.yaml of the recipe parse into the real config classes (no unknown keys)."""
    from kaldi_kd.kd.ablation import AblationConfig
    from kaldi_kd.lm.train import LMConfig
    from kaldi_kd.train.config import load_config

    for name in ("am_tdnn", "am_conformer", "am_blstm"):
        cfg = load_config(RECIPE / "conf" / f"{name}.yaml")
        cfg.model.validate()
        assert cfg.bf16 and cfg.device == "auto"
    assert load_config(RECIPE / "conf" / "am_tdnn.yaml").model.num_layers == 12
    for u in ("senone", "monophone", "subword"):
        assert LMConfig.from_yaml(RECIPE / "conf" / f"lm_{u}.yaml").kind == "bidir"
    text = (RECIPE / "conf" / "kd_ablation.yaml").read_text()
    (tmp_path / "abl.yaml").write_text(text.replace("@ALI@", "exp/tri2_ali").replace("@GRAPH@", "exp/tri2/graph"))
    abl = AblationConfig.load(tmp_path / "abl.yaml")
    assert abl.layers == {"monophone": 4, "senone": 8, "subword": 12} and abl.ali_dir == "exp/tri2_ali"
    assert "train_am.py" in abl.commands["train"] and "score" in abl.commands
    for script in ("run.sh", "run_byo.sh"):
        assert subprocess.run(["bash", "-n", str(RECIPE / script)]).returncode == 0


def recipe_copy(tmp: Path) -> Path:
    """A copy of egs/librispeech/s5 in ``tmp`` (scripts linked), so run.sh writes there."""
    s5 = tmp / "s5"
    s5.mkdir()
    for name in ("run.sh", "run_byo.sh", "cmd.sh", "path.sh"):
        (s5 / name).write_text((RECIPE / name).read_text())
        (s5 / name).chmod(0o755)
    (s5 / "conf").symlink_to(RECIPE / "conf")
    (s5 / "local").symlink_to(ROOT / "local")
    (s5 / "steps_py").symlink_to(ROOT / "steps_py")
    return s5


def run_recipe(s5: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", KALDI_KD_BACKEND="embedded")
    return subprocess.run(["bash", str(s5 / "run.sh"), *args], cwd=s5, env=env, capture_output=True, text=True)


def test_run_sh_stages_0_to_3_on_fake_corpus(libri, tmp_path):
    s5 = recipe_copy(tmp_path)
    res = run_recipe(s5, "--corpus", str(libri / "db"), "--stage", "0", "--stop-stage", "3", "--nj", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for part in CORPUS:
        name = part_to_data_name(part)
        d = DataDir.load(s5 / "data" / name).validate()
        assert d.utts == utt_ids(part)
        fb = DataDir.load(s5 / "data" / f"{name}_fbank")
        assert fb.utt2num_frames() == d.utt2num_frames()  # same frames for GMM and neural features
    assert (s5 / "data" / "lang_test_tgsmall" / "G.fst").is_file()
    assert DataDir.load(s5 / "data" / "train_2kshort").utts == utt_ids("train-clean-100")  # < 2000: all
    # no download without --download true: a missing corpus file stops stage 0 with its name
    (libri / "db" / "lm_moved.gz").write_bytes((libri / "db" / "librispeech-lm-norm.txt.gz").read_bytes())
    (libri / "db" / "librispeech-lm-norm.txt.gz").unlink()
    try:
        res = run_recipe(s5, "--corpus", str(libri / "db"), "--stage", "0", "--stop-stage", "0")
        assert res.returncode != 0 and "librispeech-lm-norm.txt.gz to exist" in res.stderr
    finally:
        (libri / "db" / "lm_moved.gz").rename(libri / "db" / "librispeech-lm-norm.txt.gz")


def test_gmm_stages_on_fake_corpus(libri):
    """Monophone GMM + alignment + tgsmall graph + decoding with the stressed LibriSpeech phone set."""
    from kaldi_kd.data.tables import read_int_vectors
    from kaldi_kd.gmm import model_io

    t = libri
    run("steps_py/train_mono.py", "--nj", "2", "--num-iters", "6", "--totgauss", "100",
        "data/train_clean_100", "data/lang", "exp/mono", cwd=t)
    run("steps_py/align_si.py", "--nj", "2", "data/train_clean_100", "data/lang", "exp/mono", "exp/mono_ali", cwd=t)
    tm, _ = model_io.read_model(t / "exp" / "mono_ali" / "final.mdl")
    frames = DataDir.load(t / "data" / "train_clean_100").utt2num_frames()
    alis = {u: a for n in (1, 2) for u, a in read_int_vectors(t / "exp" / "mono_ali" / f"ali.{n}.gz")}
    failed = (t / "exp" / "mono_ali" / "failed_utts").read_text().split()
    assert set(alis) | set(failed) == set(frames) and not set(alis) & set(failed)
    assert all(len(a) == frames[u] for u, a in alis.items()) and len(alis) >= 7
    lang = Lang(t / "data" / "lang")
    phones = {lang.phone_names[tm.transition_id_to_phone(int(x))] for a in alis.values() for x in a}
    assert {"AE1_I", "DH_B"} <= phones  # word-position and stress marked phones from the lexicon
    run("steps_py/mkgraph.py", "data/lang_test_tgsmall", "exp/mono", "exp/mono/graph_tgsmall", cwd=t)
    run("steps_py/byo_check.py", "data/train_clean_100", "exp/mono_ali", "data/lang", "exp/mono/graph_tgsmall", cwd=t)
    run("steps_py/decode_gmm.py", "--nj", "1", "exp/mono/graph_tgsmall", "data/dev_clean",
        "exp/mono/decode_tgsmall_dev_clean", cwd=t)
    best = (t / "exp" / "mono" / "decode_tgsmall_dev_clean" / "scoring_kaldi" / "best_wer").read_text()
    assert best.startswith("%WER") and "/ 10," in best  # 10 reference words in dev_clean


def test_subset_data_dir_modes(libri, tmp_path):
    from kaldi_kd.data.subset import pick_utts, subset_data_dir

    d = DataDir.load(libri / "data" / "train_clean_100")
    frames = d.utt2num_frames()
    short = pick_utts(d, 3, "shortest")
    assert len(short) == 3 and max(frames[u] for u in short) <= min(frames[u] for u in d.utts if u not in short)
    assert pick_utts(d, 4, "spread") == [d.utts[0], d.utts[2], d.utts[4], d.utts[6]]
    assert pick_utts(d, 2, "first") == d.utts[:2] and pick_utts(d, 99, "last") == d.utts
    sub = subset_data_dir(d.path, 3, tmp_path / "short3", "shortest").validate()
    assert sub.utts == sorted(short) and set(sub.speakers) <= set(d.speakers)
    assert sorted(sub.feats_scp) == sub.utts and set(sub.cmvn_scp) == set(sub.speakers)
    run("steps_py/subset_data_dir.py", "--first", str(d.path), "2", str(tmp_path / "first2"), cwd=tmp_path)
    assert DataDir.load(tmp_path / "first2").utts == d.utts[:2]
