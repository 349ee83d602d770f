"""Write a Kaldi data dir from a list of utterances (wav.scp, text, utt2spk, spk2utt, utt2dur)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.data.datadir import DataDir
from kaldi_kd.errors import InputError

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus: ids, transcript and its wav file."""

    utt_id: str
    speaker: str
    text: str
    wav: str
    duration: Optional[float] = None


def write_data_dir(utts: Sequence[Utterance], data_dir: PathLike, validate: bool = True) -> DataDir:
    """Write ``utts`` as a Kaldi data dir (sorted; wav paths made absolute); return it loaded.

    Raises:
        ValueError: on duplicate utterance ids or an utterance id not prefixed by its speaker.
        DataDirError: if ``validate`` and the result is not a valid data dir.
    """
    d = Path(data_dir)
    by_id: Dict[str, Utterance] = {}
    for u in utts:
        if u.utt_id in by_id:
            raise InputError(f"{d}: duplicate utterance id '{u.utt_id}'")
        if not u.utt_id.startswith(u.speaker):
            raise InputError(f"{d}: utterance id '{u.utt_id}' is not prefixed by its speaker '{u.speaker}'")
        by_id[u.utt_id] = u
    ids = sorted(by_id)
    d.mkdir(parents=True, exist_ok=True)
    write_text_atomic(d / "wav.scp", "".join(f"{i} {os.path.abspath(by_id[i].wav)}\n" for i in ids))
    write_text_atomic(d / "text", "".join(f"{i} {by_id[i].text}\n" for i in ids))
    write_text_atomic(d / "utt2spk", "".join(f"{i} {by_id[i].speaker}\n" for i in ids))
    spk2utt: Dict[str, list] = {}
    for i in ids:
        spk2utt.setdefault(by_id[i].speaker, []).append(i)
    write_text_atomic(d / "spk2utt", "".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    if all(by_id[i].duration is not None for i in ids):
        write_text_atomic(d / "utt2dur", "".join(f"{i} {by_id[i].duration:.3f}\n" for i in ids))
    for stale in ("feats.scp", "cmvn.scp", "utt2num_frames", "segments"):
        if (d / stale).exists():
            (d / stale).unlink()
    out = DataDir.load(d)
    return out.validate() if validate else out
