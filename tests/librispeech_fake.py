"""A fake mini LibriSpeech tree (real layout, flite speech as 16 kHz flac), lexicon and ARPA.

Layout as openslr resources 11/12 ship it::

    <root>/LibriSpeech/SPEAKERS.TXT
    <root>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt, <spk>-<chapter>-NNNN.flac
    <root>/librispeech-lexicon.txt            WORD<TAB>P1 P2 ... (stressed ARPAbet)
    <root>/3-gram.pruned.3e-7.arpa.gz         the "tgsmall" LM
    <root>/librispeech-lm-norm.txt.gz         LM corpus (one upper-case sentence a line)
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

# part -> [(reader, chapter, sex, [sentences])]
CORPUS: Dict[str, List[Tuple[str, str, str, List[str]]]] = {
    "train-clean-100": [
        ("103", "1240", "F", ["THE CAT SAT ON THE MAT", "A DOG RAN TO THE PARK", "THE DOG SAT"]),
        ("19", "198", "F", ["THE CAT RAN TO A DOG", "A CAT SAT ON A MAT"]),
        ("19", "227", "F", ["THE PARK IS GREEN"]),
        ("1088", "134315", "M", ["A GREEN MAT IS ON THE DOG", "THE ZORBLAX RAN"]),
    ],
    "dev-clean": [("1272", "128104", "M", ["THE DOG RAN TO THE MAT", "A CAT IS GREEN"])],
    "test-clean": [("1089", "134686", "M", ["THE GREEN DOG SAT ON A PARK"])],
    "dev-other": [("116", "288045", "M", ["A DOG IS ON THE MAT"])],
    "test-other": [("1688", "142285", "M", ["THE CAT RAN"])],
}
VOICES = {"F": "slt", "M": "kal16"}
# words of the corpus except ZORBLAX (a word the lexicon lacks: letter-to-sound)
LEXICON = {
    "A": ["AH0", "EY1"], "CAT": ["K AE1 T"], "DOG": ["D AO1 G"], "GREEN": ["G R IY1 N"],
    "IS": ["IH1 Z"], "MAT": ["M AE1 T"], "ON": ["AA1 N", "AO1 N"], "PARK": ["P AA1 R K"],
    "RAN": ["R AE1 N"], "SAT": ["S AE1 T"], "THE": ["DH AH0", "DH IY0"], "TO": ["T UW1"],
    "HOUSE": ["HH AW1 S"],
}
LM_SENTENCES = [s for chs in CORPUS.values() for *_, sents in chs for s in sents if "ZORBLAX" not in s] + [
    "THE HOUSE IS GREEN", "A CAT RAN TO THE HOUSE", "THE DOG IS ON THE MAT"]


def utt_ids(part: str) -> List[str]:
    """The utterance ids of ``part`` in C order."""
    return sorted((f"{r}-{c}-{i:04d}" for r, c, _, sents in CORPUS[part] for i in range(len(sents))),
                  key=str.encode)


def synth_flac(text: str, voice: str, out: Path) -> None:
    """flite speech for ``text`` as 16 kHz 16-bit mono flac (via sox)."""
    wav = out.with_suffix(".tmp.wav")
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(wav)], check=True, capture_output=True)
    subprocess.run(["sox", str(wav), "-r", "16000", "-b", "16", "-c", "1", str(out)], check=True,
                   capture_output=True)
    wav.unlink()


def make_fake_librispeech(root: Path) -> Path:
    """Write the fake tree under ``root``; return ``root/LibriSpeech``."""
    ls = root / "LibriSpeech"
    speakers = [";ID     |SEX| SUBSET           |MINUTES| NAME"]
    for part, chapters in CORPUS.items():
        for reader, chapter, sex, sents in chapters:
            d = ls / part / reader / chapter
            d.mkdir(parents=True, exist_ok=True)
            lines = []
            for i, s in enumerate(sents):
                utt = f"{reader}-{chapter}-{i:04d}"
                synth_flac(s.lower(), VOICES[sex], d / f"{utt}.flac")
                lines.append(f"{utt} {s}\n")
            (d / f"{reader}-{chapter}.trans.txt").write_text("".join(lines))
            entry = f"{reader:<7}| {sex} | {part:<17}| 25.00 | Reader {reader}"
            if entry not in speakers:
                speakers.append(entry)
    (ls / "SPEAKERS.TXT").write_text("\n".join(speakers) + "\n")
    (root / "librispeech-lexicon.txt").write_text(
        "".join(f"{w}\t{p}\n" for w, prons in sorted(LEXICON.items()) for p in prons))
    with gzip.open(root / "librispeech-lm-norm.txt.gz", "wt") as f:
        f.write("".join(s + "\n" for s in LM_SENTENCES * 3))
    return ls


def write_tgsmall(root: Path) -> Path:
    """A 3-gram ARPA on the LM sentences (kaldingram KN), gzip'd like openslr's tgsmall."""
    from kaldi_kd.gmm.ngram import train_arpa

    arpa = train_arpa([s.split() for s in LM_SENTENCES], order=3)
    out = root / "3-gram.pruned.3e-7.arpa.gz"
    with gzip.open(out, "wt") as f:
        f.write(arpa)
    return out
