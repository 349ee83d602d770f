"""Acoustic features for a data dir: MFCC / fbank, per-speaker CMVN stats, a feature reader.

Options come from Kaldi-style config files (``conf/mfcc.conf``: one ``--opt=value`` per
line, ``#`` comments) with Kaldi's defaults and Kaldi's option names; extraction is
kaldi_native_fbank (the same arithmetic as ``compute-mfcc-feats``/``compute-fbank-feats``).

Example:
    >>> cfg = FeatureConfig.from_file("conf/mfcc.conf", "mfcc")          # doctest: +SKIP
    >>> feats = compute_features(samples, 16000, cfg)                     # doctest: +SKIP
    >>> reader = FeatureReader("data/train", cmvn=True, deltas=2)        # doctest: +SKIP
    >>> x = reader["spk1-utt1"]   # float32 (T, 39)                      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import kaldi_native_fbank as knf
import numpy as np

from kaldi_kd.data.datadir import DataDir
from kaldi_kd.data.tables import ScpReader, write_table
from kaldi_kd.data.transforms import add_deltas, apply_cmvn, cmvn_stats, splice
from kaldi_kd.data.wav import cut_segment, read_wav_entry
from kaldi_kd.errors import KaldiKdError

PathLike = Union[str, os.PathLike]
FEAT_TYPES = ("mfcc", "fbank")


class FeatureError(KaldiKdError, ValueError):
    """A feature config, extraction or reading problem naming the file/line/utterance."""


def _bool(v: str) -> bool:
    low = v.lower()
    if low in ("true", "1", "t"):
        return True
    if low in ("false", "0", "f"):
        return False
    raise ValueError(f"expected true/false, got '{v}'")


# Kaldi option name -> (section of knf's as_dict() or "" for top level, knf key, parser)
_FRAME = {
    "sample-frequency": ("frame_opts", "samp_freq", float),
    "frame-shift": ("frame_opts", "frame_shift_ms", float),
    "frame-length": ("frame_opts", "frame_length_ms", float),
    "dither": ("frame_opts", "dither", float),
    "preemphasis-coefficient": ("frame_opts", "preemph_coeff", float),
    "remove-dc-offset": ("frame_opts", "remove_dc_offset", _bool),
    "window-type": ("frame_opts", "window_type", str),
    "round-to-power-of-two": ("frame_opts", "round_to_power_of_two", _bool),
    "blackman-coeff": ("frame_opts", "blackman_coeff", float),
    "snip-edges": ("frame_opts", "snip_edges", _bool),
    "num-mel-bins": ("mel_opts", "num_bins", int),
    "low-freq": ("mel_opts", "low_freq", float),
    "high-freq": ("mel_opts", "high_freq", float),
    "vtln-low": ("mel_opts", "vtln_low", float),
    "vtln-high": ("mel_opts", "vtln_high", float),
    "debug-mel": ("mel_opts", "debug_mel", _bool),
    "use-energy": ("", "use_energy", _bool),
    "energy-floor": ("", "energy_floor", float),
    "raw-energy": ("", "raw_energy", _bool),
    "htk-compat": ("", "htk_compat", _bool),
}
_OPTIONS = {
    "mfcc": {**_FRAME, "num-ceps": ("", "num_ceps", int), "cepstral-lifter": ("", "cepstral_lifter", float)},
    "fbank": {**_FRAME, "use-log-fbank": ("", "use_log_fbank", _bool), "use-power": ("", "use_power", _bool)},
}
# Kaldi's defaults where kaldi_native_fbank's differ (knf dithers 3e-5; Kaldi 1.0).
_KALDI_DEFAULTS = {
    "mfcc": {"dither": 1.0, "num-mel-bins": 23, "use-energy": True},
    "fbank": {"dither": 1.0, "num-mel-bins": 23, "use-energy": False},
}
_WINDOWS = ("hamming", "hanning", "povey", "rectangular", "sine", "blackman")


@dataclass
class FeatureConfig:
    """Feature type plus Kaldi options (name without ``--`` -> typed value).

    Options not given keep Kaldi's defaults.  ``source`` is the config file, if any.
    """

    feat_type: str = "mfcc"
    options: Dict[str, Any] = field(default_factory=dict)
    source: Optional[str] = None

    def __post_init__(self) -> None:
        if self.feat_type not in FEAT_TYPES:
            raise FeatureError(f"unknown feature type '{self.feat_type}' (use one of {FEAT_TYPES})")

    @classmethod
    def from_file(cls, path: PathLike, feat_type: str) -> "FeatureConfig":
        """Parse a Kaldi config file; unknown options raise naming file and line."""
        cfg = cls(feat_type, source=str(path))
        if not os.path.isfile(path):
            raise FeatureError(f"{path}: no such feature config file")
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                line = line.split("#", 1)[0].strip()
                if line:
                    cfg.set_option(line, where=f"{path}:{n}")
        return cfg

    def set_option(self, arg: str, where: str = "option") -> None:
        """Set one ``--name=value`` option (``--name`` alone means true for booleans)."""
        if not arg.startswith("--"):
            raise FeatureError(f"{where}: expected --option=value, got '{arg}'")
        name, eq, value = arg[2:].partition("=")
        name = name.replace("_", "-")
        spec = _OPTIONS[self.feat_type].get(name)
        if spec is None:
            known = ", ".join(sorted(_OPTIONS[self.feat_type]))
            raise FeatureError(f"{where}: unknown {self.feat_type} option '--{name}' (known: {known})")
        if not eq:
            if spec[2] is not _bool:
                raise FeatureError(f"{where}: option '--{name}' needs a value")
            value = "true"
        try:
            parsed = spec[2](value)
        except ValueError as err:
            raise FeatureError(f"{where}: bad value for '--{name}': {err}") from None
        if name == "window-type" and parsed not in _WINDOWS:
            raise FeatureError(f"{where}: '--window-type={parsed}' is not one of {_WINDOWS}")
        self.options[name] = parsed

    def get(self, name: str) -> Any:
        """An option's value (given or Kaldi's default)."""
        if name in self.options:
            return self.options[name]
        if name in _KALDI_DEFAULTS[self.feat_type]:
            return _KALDI_DEFAULTS[self.feat_type][name]
        sec, key, _ = _OPTIONS[self.feat_type][name]
        d = self._knf_template().as_dict()
        return d[sec][key] if sec else d[key]

    def _knf_template(self):
        return knf.MfccOptions() if self.feat_type == "mfcc" else knf.FbankOptions()

    def knf_options(self):
        """The kaldi_native_fbank options object (MfccOptions or FbankOptions)."""
        d = copy.deepcopy(self._knf_template().as_dict())
        merged = {**_KALDI_DEFAULTS[self.feat_type], **self.options}
        for name, value in merged.items():
            sec, key, _ = _OPTIONS[self.feat_type][name]
            (d[sec] if sec else d)[key] = value
        cls = knf.MfccOptions if self.feat_type == "mfcc" else knf.FbankOptions
        return cls.from_dict(d)

    @property
    def sample_rate(self) -> int:
        return int(self.get("sample-frequency"))

    @property
    def dim(self) -> int:
        """Output dimension (num-ceps for MFCC; num-mel-bins (+1 with energy) for fbank)."""
        if self.feat_type == "mfcc":
            return int(self.get("num-ceps"))
        return int(self.get("num-mel-bins")) + (1 if self.get("use-energy") else 0)

    def to_kaldi_conf(self) -> str:
        """The options as a Kaldi config file text."""
        def fmt(v):
            return str(v).lower() if isinstance(v, bool) else str(v)
        return "".join(f"--{k}={fmt(v)}\n" for k, v in self.options.items())


def compute_features(samples: np.ndarray, rate: int, cfg: FeatureConfig, name: str = "wave") -> np.ndarray:
    """MFCC or fbank of one waveform (16-bit scale samples) -> float32 (T, D).

    Raises:
        FeatureError: on a sample-rate mismatch or a wave shorter than one frame.
    """
    if rate != cfg.sample_rate:
        raise FeatureError(f"{name}: sample rate {rate} Hz does not match --sample-frequency="
                           f"{cfg.sample_rate} of {cfg.source or 'the feature config'} (resample, e.g. "
                           f"'sox in.wav -r {cfg.sample_rate} out.wav', or change the config)")
    opts = cfg.knf_options()
    comp = knf.OnlineMfcc(opts) if cfg.feat_type == "mfcc" else knf.OnlineFbank(opts)
    comp.accept_waveform(float(rate), np.ascontiguousarray(samples, dtype=np.float32))
    comp.input_finished()
    n = comp.num_frames_ready
    if n == 0:
        raise FeatureError(f"{name}: too short for one frame ({len(samples)} samples)")
    return np.stack([np.asarray(comp.get_frame(i), dtype=np.float32) for i in range(n)])


def utterance_samples(d: DataDir, utt: str) -> Tuple[np.ndarray, int]:
    """Samples and rate of one utterance of a data dir (wav.scp + optional segments)."""
    entry, seg = d.wav_entry(utt)
    name = f"{d.path / 'wav.scp'}: utterance '{utt}'"
    samples, rate = read_wav_entry(entry, name)
    if seg is not None:
        samples = cut_segment(samples, rate, seg.start, seg.end, name)
    return samples, rate


def iter_utterance_features(d: DataDir, cfg: FeatureConfig, utts: Optional[Iterable[str]] = None,
                            progress: bool = False) -> Iterator[Tuple[str, np.ndarray]]:
    """Yield (utt, features) for the data dir's utterances (sorted) or ``utts``."""
    utts = list(utts) if utts is not None else d.utts
    if progress:
        from tqdm import tqdm
        utts = tqdm(utts, desc=f"{cfg.feat_type} {d.path}", unit="utt")
    for utt in utts:
        samples, rate = utterance_samples(d, utt)
        yield utt, compute_features(samples, rate, cfg, name=f"{d.path}: utterance '{utt}'")


def make_feats_job(data_dir: PathLike, cfg: FeatureConfig, ark: PathLike, scp: PathLike,
                   progress: bool = False, compress: bool = False) -> Dict[str, int]:
    """Compute features of every utterance of ``data_dir``; write ``ark`` + ``scp`` atomically.

    Returns:
        utt -> number of frames.
    """
    d = DataDir.load(data_dir)
    frames: Dict[str, int] = {}

    def gen():
        for utt, feats in iter_utterance_features(d, cfg, progress=progress):
            frames[utt] = feats.shape[0]
            yield utt, feats

    write_table(Path(ark).absolute(), gen(), scp=scp, compress=compress)
    return frames


def compute_cmvn(data_dir: PathLike, ark: PathLike, scp: Optional[PathLike] = None) -> Dict[str, np.ndarray]:
    """Per-speaker CMVN stats (Kaldi (2, D+1) float64 layout) from ``data_dir/feats.scp``.

    Writes ``ark`` and ``scp`` (default ``data_dir/cmvn.scp``) atomically.

    Returns:
        speaker -> stats.
    """
    d = DataDir.load(data_dir)
    if not d.has("feats.scp"):
        raise FeatureError(f"{d.path / 'feats.scp'}: expected file to exist (make features first)")
    reader = ScpReader(d.path / "feats.scp")
    stats: Dict[str, np.ndarray] = {}
    dim = None
    for spk, utts in sorted(d.utt2spk_inverse().items()):
        acc = None
        for utt in utts:
            feats = _read_utt(reader, d, utt)
            dim = _check_dim(dim, feats, d, utt)
            s = cmvn_stats(feats)
            acc = s if acc is None else acc + s
        stats[spk] = acc
    write_table(Path(ark).absolute(), sorted(stats.items()), scp=scp or d.path / "cmvn.scp")
    return stats


def _read_utt(reader: ScpReader, d: DataDir, utt: str) -> np.ndarray:
    try:
        return reader[utt]
    except KeyError:
        raise FeatureError(f"{d.path / 'feats.scp'}: utterance '{utt}' has no features") from None


def _check_dim(dim: Optional[int], feats: np.ndarray, d: DataDir, utt: str) -> int:
    if feats.ndim != 2:
        raise FeatureError(f"{d.path / 'feats.scp'}: utterance '{utt}' is not a matrix (shape {feats.shape})")
    if dim is not None and feats.shape[1] != dim:
        raise FeatureError(f"{d.path / 'feats.scp'}: utterance '{utt}' has feature dim {feats.shape[1]}, "
                           f"earlier utterances have {dim}")
    return feats.shape[1]


def feat_dim(data_dir: PathLike) -> int:
    """Feature dimension of the first utterance of ``data_dir/feats.scp`` (like feat-to-dim)."""
    scp = Path(data_dir) / "feats.scp"
    if not scp.is_file():
        raise FeatureError(f"{scp}: expected file to exist")
    reader = ScpReader(scp)
    first = next(iter(reader), None)
    if first is None:
        raise FeatureError(f"{scp}: empty")
    return int(reader[first].shape[1])


class FeatureReader(Mapping[str, np.ndarray]):
    """utt -> processed float32 (T, F) features of a data dir, in sorted utterance order.

    Processing is Kaldi's loader chain: apply-cmvn (per speaker, from cmvn.scp) ->
    add-deltas -> splice-feats.

    Args:
        data_dir: a data dir with feats.scp (and cmvn.scp when ``cmvn``).
        cmvn: apply per-speaker mean normalisation.
        deltas: delta order (0 = none, 2 = Kaldi's usual delta+delta-delta).
        splice: (left, right) context frames.
        norm_vars: also normalise variances.

    Raises:
        FeatureError: naming the file and utterance on missing files/entries or a
        feature dimension that differs between utterances.
    """

    def __init__(self, data_dir: PathLike, cmvn: bool = True, deltas: int = 0,
                 splice: Tuple[int, int] = (0, 0), norm_vars: bool = False):
        self.dir = DataDir.load(data_dir)
        self.cmvn, self.deltas, self.splice, self.norm_vars = cmvn, deltas, tuple(splice), norm_vars
        if not self.dir.has("feats.scp"):
            raise FeatureError(f"{self.dir.path / 'feats.scp'}: expected file to exist")
        self._feats = ScpReader(self.dir.path / "feats.scp")
        self._cmvn = None
        if cmvn:
            if not self.dir.has("cmvn.scp"):
                raise FeatureError(f"{self.dir.path / 'cmvn.scp'}: expected file to exist "
                                   "(run compute_cmvn_stats, or cmvn=False)")
            self._cmvn = ScpReader(self.dir.path / "cmvn.scp")
        self._utts = sorted(self._feats)
        self._dim: Optional[int] = None

    @property
    def utts(self) -> List[str]:
        return list(self._utts)

    def raw(self, utt: str) -> np.ndarray:
        """Unprocessed features of ``utt`` (dimension checked against earlier reads)."""
        feats = _read_utt(self._feats, self.dir, utt)
        self._dim = _check_dim(self._dim, feats, self.dir, utt)
        return feats.astype(np.float32, copy=False)

    def __getitem__(self, utt: str) -> np.ndarray:
        feats = self.raw(utt)
        if self._cmvn is not None:
            spk = self.dir.utt2spk.get(utt)
            if spk is None:
                raise FeatureError(f"{self.dir.path / 'utt2spk'}: utterance '{utt}' has no speaker")
            try:
                stats = self._cmvn[spk]
            except KeyError:
                raise FeatureError(f"{self.dir.path / 'cmvn.scp'}: no stats for speaker '{spk}' "
                                   f"(utterance '{utt}')") from None
            try:
                feats = apply_cmvn(feats, stats, self.norm_vars)
            except ValueError as err:
                raise FeatureError(f"{self.dir.path / 'cmvn.scp'}: speaker '{spk}', utterance '{utt}': {err}") from None
        if self.deltas:
            feats = add_deltas(feats, self.deltas)
        if self.splice != (0, 0):
            feats = splice(feats, *self.splice)
        return feats

    def __contains__(self, utt: object) -> bool:
        return utt in self._feats  # a missing utterance is "not in", never a FeatureError

    def __iter__(self) -> Iterator[str]:
        return iter(self._utts)

    def __len__(self) -> int:
        return len(self._utts)

    @property
    def dim(self) -> int:
        """Output dimension after deltas and splicing."""
        base = self.raw(self._utts[0]).shape[1] if self._dim is None else self._dim
        return base * (self.deltas + 1) * (1 + self.splice[0] + self.splice[1])
