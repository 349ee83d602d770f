"""GMM decoding end to end on the gmm area's toy corpus: train a monophone system,
build HCLG, decode with steps_py/decode_gmm.py, score: the WER must be low."""

import subprocess
import sys
from pathlib import Path


from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: F401  (import order)
from kaldi_kd.gmm.graph import make_graph_dir
from kaldi_kd.gmm.model_io import read_model, read_tree
from kaldi_kd.gmm.ngram import NgramConfig, make_lang_test
from kaldi_kd.gmm.train_mono import MonoConfig, train_mono
from kaldi_kd.score.wer import parse_kaldi_line

from gmm_corpus import make_data, make_lang

ROOT = Path(__file__).resolve().parents[1]


def test_decode_gmm_end_to_end(tmp_path):
    lang = make_lang(tmp_path)
    data = make_data(tmp_path, num_utts=18, oov_utts=0)
    mono = tmp_path / "exp" / "mono"
    train_mono(data, lang, mono, MonoConfig(num_iters=6, max_iter_inc=4, totgauss=60,
                                            realign_iters=(1, 2, 4)), nj=1)
    lm = tmp_path / "lm.txt"
    lm.write_text("".join(line.split(maxsplit=1)[1] + "\n"
                          for line in (data / "text").read_text().splitlines()))
    make_lang_test([lm], lang, tmp_path / "lang_test", NgramConfig(order=2))
    tm, _ = read_model(mono / "final.mdl")
    make_graph_dir(tmp_path / "lang_test", tm, read_tree(mono / "tree"), mono / "graph")
    ddir = mono / "decode_train"
    out = subprocess.run([sys.executable, str(ROOT / "steps_py" / "decode_gmm.py"), "--nj", "2",
                          str(mono / "graph"), str(data), str(ddir)],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    best = (ddir / "scoring_kaldi" / "best_wer").read_text()
    print(best)
    assert parse_kaldi_line(best).wer < 10.0, best
    assert (ddir / "lat.1.gz").is_file() and (ddir / "lat.2.gz").is_file()
