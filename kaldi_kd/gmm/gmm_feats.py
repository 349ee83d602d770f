"""The features a GMM system was trained on, and how later stages re-create them.

A GMM exp dir holds ``feats.yaml``: ``cmvn`` (per-speaker mean normalisation),
``deltas`` (order), ``splice`` (frames of context each side, Kaldi's
``--left-context = --right-context``) and ``transform`` (a Kaldi matrix file in the
exp dir, e.g. ``final.mat``: LDA+MLLT; applied after splicing, as
``transform-feats``).  Kaldi keeps the same facts in ``cmvn_opts``, ``delta_opts``,
``splice_opts`` and ``final.mat``; :func:`write_kaldi_opts` writes those too so
Kaldi's decoding scripts see the same pipeline.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

import numpy as np

from kaldi_kd.data.atomic import write_text_atomic
from kaldi_kd.errors import InputError

PathLike = Union[str, os.PathLike]


@dataclass
class FeatOpts:
    """Feature pipeline of a GMM system: CMVN -> deltas | splice -> transform."""

    cmvn: bool = True
    deltas: int = 2
    splice: int = 0
    transform: str = ""     # matrix file name, relative to the model dir

    def save(self, model_dir: PathLike) -> None:
        import yaml

        write_text_atomic(Path(model_dir) / "feats.yaml", yaml.safe_dump(asdict(self), sort_keys=False))
        write_kaldi_opts(model_dir, self)

    @classmethod
    def load(cls, model_dir: PathLike) -> "FeatOpts":
        """``model_dir/feats.yaml``; absent: Kaldi's delta system (CMVN, deltas 2)."""
        import yaml

        path = Path(model_dir) / "feats.yaml"
        if not path.is_file():
            return cls()
        d = yaml.safe_load(path.read_text()) or {}
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def write_kaldi_opts(model_dir: PathLike, opts: FeatOpts) -> None:
    """Kaldi's option files for the same pipeline (cmvn_opts, delta_opts, splice_opts)."""
    d = Path(model_dir)
    write_text_atomic(d / "cmvn_opts", "\n" if opts.cmvn else "--norm-means=false\n")
    if opts.splice:
        write_text_atomic(d / "splice_opts",
                          f"--left-context={opts.splice} --right-context={opts.splice}\n")
    elif opts.deltas:
        write_text_atomic(d / "delta_opts", f"--delta-order={opts.deltas}\n")


class GmmFeatures(Mapping[str, np.ndarray]):
    """utt -> float32 features of ``data_dir`` through the pipeline ``opts``.

    Args:
        data_dir: data dir with feats.scp (and cmvn.scp when ``opts.cmvn``).
        opts: the pipeline.
        model_dir: where ``opts.transform`` lives.
        transform: an explicit matrix (overrides ``opts.transform``).
    """

    def __init__(self, data_dir: PathLike, opts: FeatOpts, model_dir: Optional[PathLike] = None,
                 transform: Optional[np.ndarray] = None):
        from kaldi_kd.data.features import FeatureReader

        self.reader = FeatureReader(data_dir, cmvn=opts.cmvn, deltas=opts.deltas,
                                    splice=(opts.splice, opts.splice))
        self.matrix = transform
        if self.matrix is None and opts.transform:
            from kaldi_kd.gmm.model_io import read_matrix

            self.matrix = read_matrix(Path(model_dir or ".") / opts.transform)

    def __getitem__(self, utt: str) -> np.ndarray:
        x = self.reader[utt]
        if self.matrix is None:
            return x
        return apply_transform(x, self.matrix)

    def __contains__(self, utt: object) -> bool:
        return utt in self.reader

    def __iter__(self) -> Iterator[str]:
        return iter(self.reader)

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def utts(self):
        return self.reader.utts

    @property
    def dim(self) -> int:
        """Feature dimension after the whole pipeline."""
        return int(self.matrix.shape[0]) if self.matrix is not None else int(self.reader.dim)


def check_model_dim(data_dir: PathLike, opts: FeatOpts, model_dir: PathLike) -> None:
    """Raise :class:`InputError` unless the features of ``data_dir`` through ``opts`` have the
    dimension of ``model_dir/final.mdl``'s Gaussians (checked before any job starts)."""
    from kaldi_kd.gmm.model_io import read_model

    model = Path(model_dir) / "final.mdl"
    dim = GmmFeatures(data_dir, opts, model_dir).dim
    model_dim = int(read_model(model)[1].dim)
    if dim != model_dim:
        raise InputError(f"{Path(data_dir) / 'feats.scp'}: features of dim {dim} after the model's CMVN/"
                         f"deltas/transform, but {model} has {model_dim}-dim Gaussians (give the data dir "
                         "with the features the GMM was trained on)")


def apply_transform(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """transform-feats: x M^T for a (d, D) matrix, x [M | b]^T for an affine (d, D+1) one."""
    m = np.asarray(m, np.float64)
    if m.shape[1] == x.shape[1]:
        return (x @ m.T).astype(np.float32)
    if m.shape[1] == x.shape[1] + 1:
        return (x @ m[:, :-1].T + m[:, -1]).astype(np.float32)
    raise InputError(f"transform of shape {m.shape} does not fit features of dim {x.shape[1]}")
