"""A tiny generated corpus for GMM tests: toy lexicon -> lang dir, synthetic features.

Features are drawn per HMM state: each (phone, state) has its own mean, frames of a
state are that mean plus noise, durations random, so a GMM-HMM can learn them and
alignments have a known answer.  Optional silence (SIL) at the utterance edges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm  # noqa: F401  (import order)
from kaldi_kd.data.features import compute_cmvn
from kaldi_kd.data.tables import write_table
from kaldi_kd.gmm.lang import LangConfig, prepare_lang

PHONES = ["a", "b", "c", "d", "e", "f"]
LEXICON = {"ab": "a b", "cd": "c d", "ef": "e f", "ace": "a c e", "bdf": "b d f",
           "fa": "f a", "dec": "d e c", "be": "b e"}


def make_lang(root: Path, position_dependent: bool = False) -> Path:
    """Write dict dir + lang dir under ``root``; return the lang dir."""
    d = root / "dict"
    d.mkdir(parents=True, exist_ok=True)
    lex = "".join(f"{w} {p}\n" for w, p in sorted(LEXICON.items()))
    (d / "lexicon.txt").write_text("!SIL SIL\n<UNK> SPN\n" + lex)
    (d / "silence_phones.txt").write_text("SIL\nSPN\n")
    (d / "optional_silence.txt").write_text("SIL\n")
    (d / "nonsilence_phones.txt").write_text("".join(f"{p}\n" for p in PHONES))
    (d / "extra_questions.txt").write_text("SIL SPN\n")
    lang = root / "lang"
    prepare_lang(d, "<UNK>", lang, LangConfig(position_dependent_phones=False))
    return lang


def make_data(root: Path, num_utts: int = 24, num_spk: int = 3, dim: int = 13,
              seed: int = 0, oov_utts: int = 1) -> Path:
    """Write a data dir with text, utt2spk, spk2utt, feats.scp, cmvn.scp under ``root``."""
    rng = np.random.default_rng(seed)
    means: Dict[Tuple[str, int], np.ndarray] = {}
    for p in PHONES + ["SIL"]:
        for s in range(5):
            means[(p, s)] = rng.normal(scale=3.0, size=dim)
    words = sorted(LEXICON)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    feats, text, utt2spk = [], {}, {}
    for i in range(num_utts):
        spk = f"spk{i % num_spk}"
        utt = f"{spk}-u{i:03d}"
        ws = list(rng.choice(words, size=rng.integers(2, 5)))
        frames: List[np.ndarray] = []
        seq = [("SIL", 5)] + [(p, 3) for w in ws for p in LEXICON[w].split()] + [("SIL", 5)]
        for p, n_states in seq:
            for s in range(n_states):
                n = int(rng.integers(2, 7))
                frames.append(means[(p, s)] + rng.normal(scale=0.7, size=(n, dim)))
        if i < oov_utts:
            ws = ws + ["zzz"]  # an OOV word in the transcript: mapped to <UNK>
        feats.append((utt, np.concatenate(frames).astype(np.float32)))
        text[utt] = " ".join(ws)
        utt2spk[utt] = spk
    (data / "text").write_text("".join(f"{u} {t}\n" for u, t in sorted(text.items())))
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())))
    spk2utt: Dict[str, List[str]] = {}
    for u, s in sorted(utt2spk.items()):
        spk2utt.setdefault(s, []).append(u)
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    (data / "wav.scp").write_text("".join(f"{u} /dev/null\n" for u in sorted(text)))
    write_table((root / "feats.ark").absolute(), sorted(feats), scp=data / "feats.scp")
    compute_cmvn(data, (root / "cmvn.ark").absolute())
    return data
