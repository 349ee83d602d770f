"""Checks of a Kaldi data dir (Kaldi's utils/validate_data_dir.sh), each problem naming file and line or id."""

from __future__ import annotations

import os
import wave
from typing import TYPE_CHECKING, List, Optional

from kaldi_kd.data.datadir import _PER_UTT_OPTIONAL, _is_float, _is_offset

if TYPE_CHECKING:
    from kaldi_kd.data.datadir import DataDir

_SEG_TOLERANCE = 1e-3  # seconds a segment may overshoot its recording (rounding)


def data_dir_problems(d: "DataDir", check_wavs: bool = True, require_text: bool = True) -> List[str]:
    """Every problem found, each naming file and line or utterance (empty if valid)."""
    out: List[str] = []
    for t in list(d.tables.values()) + ([d._spk2utt_table] if d._spk2utt_table else []):
        out += t.problems
        out += t.sort_problems()
    out += _speaker_problems(d)
    if "text" in d.tables:
        out += _text_problems(d)
    elif require_text:
        out.append(f"{d.path / 'text'}: expected file to exist (one '<utt-id> <words>' line per utterance)")
    out += _audio_problems(d, check_wavs)
    out += _coverage_problems(d)
    return out


def _speaker_problems(d: "DataDir") -> List[str]:
    out = []
    t = d.tables["utt2spk"]
    for utt, spk in t.values.items():
        if len(spk.split()) != 1:
            out.append(f"{t.where(utt)}: utterance '{utt}' has more than one speaker: '{spk}' (one speaker id per utterance)")
    inv = d.utt2spk_inverse()
    if d.spk2utt is None:
        out.append(f"{d.path / 'spk2utt'}: expected file to exist (fix regenerates it)")
        return out
    st = d._spk2utt_table
    for spk in sorted(set(inv) | set(d.spk2utt)):
        have, want = d.spk2utt.get(spk), inv.get(spk)
        if have is None:
            out.append(f"{st.path}: speaker '{spk}' of utt2spk is missing (fix regenerates spk2utt)")
        elif want is None:
            out.append(f"{st.where(spk)}: speaker '{spk}' has no utterance in utt2spk (fix regenerates spk2utt)")
        elif have != want:
            diff = sorted(set(have) ^ set(want))
            what = f"utterances differ: {' '.join(diff[:5])}" if diff else "utterances not sorted"
            out.append(f"{st.where(spk)}: speaker '{spk}' disagrees with utt2spk: {what} (fix regenerates spk2utt)")
    # Kaldi requires sorting by speaker and by utterance to agree (prefix utts by speaker).
    by_spk = [u for spk in sorted(inv) for u in inv[spk]]
    if by_spk != sorted(d.utt2spk):
        bad = next(u for u, v in zip(by_spk, sorted(d.utt2spk)) if u != v)
        out.append(f"{t.where(bad)}: utterance '{bad}': utt2spk is not sorted the same when "
                   "sorted by speaker (make speaker ids prefixes of utterance ids)")
    return out


def _text_problems(d: "DataDir") -> List[str]:
    t = d.tables["text"]
    return [f"{t.where(u)}: utterance '{u}' has an empty transcript (give its words; fix drops it)"
            for u, v in t.values.items() if not v.strip()]


def _audio_problems(d: "DataDir", check_wavs: bool) -> List[str]:
    out: List[str] = []
    wt = d.tables.get("wav.scp")
    if wt is None:
        if "feats.scp" not in d.tables:
            out.append(f"{d.path / 'wav.scp'}: expected file to exist (or feats.scp)")
        return out
    durations = {k: float(v) for k, v in d._values("reco2dur").items()
                 if _is_float(v)}
    for reco, entry in wt.values.items():
        if entry.endswith("|"):
            continue
        if "|" in entry:
            out.append(f"{wt.where(reco)}: recording '{reco}': command '{entry}' has a '|' inside (a pipe must end in '|')")
        elif check_wavs and not os.path.exists(entry.rsplit(":", 1)[0] if _is_offset(entry) else entry):
            out.append(f"{wt.where(reco)}: recording '{reco}': no such file '{entry}' (fix the path; fix drops the recording)")
    st = d.tables.get("segments")
    if st is None:
        return out
    for utt, value in st.values.items():
        reco, start, end = value.split()[:3]
        if not (_is_float(start) and _is_float(end)):
            out.append(f"{st.where(utt)}: utterance '{utt}' has non-numeric start/end '{start} {end}' (give times in seconds)")
            continue
        s, e = float(start), float(end)
        if reco not in wt.values:
            out.append(f"{st.where(utt)}: utterance '{utt}': recording '{reco}' not in wav.scp (add it, or fix drops the segment)")
            continue
        if s < 0 or s >= e:
            out.append(f"{st.where(utt)}: utterance '{utt}': need 0 <= start < end, got {s} {e} (fix the times)")
            continue
        dur = durations.get(reco)
        if dur is None and check_wavs:
            dur = _wav_duration(wt.values[reco])
            if dur is not None:
                durations[reco] = dur
        if dur is not None and e > dur + _SEG_TOLERANCE:
            out.append(f"{st.where(utt)}: utterance '{utt}': end {e} is past the end of "
                       f"recording '{reco}' ({dur:.3f} s; fix the times)")
    return out


def _coverage_problems(d: "DataDir") -> List[str]:
    out: List[str] = []
    utts = set(d.utt2spk)
    utt_u2s = d.tables["utt2spk"]
    audio_name = "segments" if "segments" in d.tables else "wav.scp"
    names = ["text", audio_name] + [n for n in _PER_UTT_OPTIONAL]
    if audio_name not in d.tables and "feats.scp" in d.tables:
        names.remove(audio_name)
    for name in names:
        t = d.tables.get(name)
        if t is None:
            continue
        for u in sorted(set(t.values) - utts):
            out.append(f"{t.where(u)}: utterance '{u}' is not in utt2spk (add it there; fix drops it)")
        for u in sorted(utts - set(t.values)):
            out.append(f"{t.path}: utterance '{u}' of utt2spk line {utt_u2s.lines[u]} is missing (add it; fix drops it)")
    if "segments" in d.tables and "wav.scp" in d.tables:
        used = {v.split()[0] for v in d.tables["segments"].values.values()}
        wt = d.tables["wav.scp"]
        for r in sorted(set(wt.values) - used):
            out.append(f"{wt.where(r)}: recording '{r}' has no segment (fix drops it)")
    ct = d.tables.get("cmvn.scp")
    if ct is not None:
        spks = set(d.utt2spk.values())
        for s in sorted(spks - set(ct.values)):
            out.append(f"{ct.path}: speaker '{s}' is missing (recompute it: steps_py/compute_cmvn_stats.py)")
        for s in sorted(set(ct.values) - spks):
            out.append(f"{ct.where(s)}: speaker '{s}' is not in utt2spk (recompute it: steps_py/compute_cmvn_stats.py)")
    return out


def _wav_duration(entry: str) -> Optional[float]:
    """Duration of a plain RIFF wav file entry, or None (pipes, other formats)."""
    if entry.endswith("|") or not entry.lower().endswith(".wav") or not os.path.isfile(entry):
        return None
    try:
        with wave.open(entry, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, OSError):
        return None
