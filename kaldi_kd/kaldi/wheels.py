"""The embedded backend's Kaldi wheels, imported in the one order that is safe.

Importing ``kaldilm`` before ``kaldi_hmm_gmm`` hangs the interpreter forever (a
static-initialisation clash between the two builds of OpenFST).  Every module of
kaldi-kd therefore takes the wheels from here::

    from kaldi_kd.kaldi.wheels import kaldi_hmm_gmm, kaldifst

and never imports them directly.
"""

import kaldi_hmm_gmm  # noqa: F401  (must stay first)
import kaldifst  # noqa: F401
import kaldi_decoder  # noqa: F401
import kaldilm  # noqa: F401
import kaldi_native_fbank  # noqa: F401
import kaldi_native_io  # noqa: F401

__all__ = [
    "kaldi_hmm_gmm",
    "kaldifst",
    "kaldi_decoder",
    "kaldilm",
    "kaldi_native_fbank",
    "kaldi_native_io",
]
