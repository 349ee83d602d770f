"""kaldi_kd.units: unit sequences (senone / monophone / subword) with frame spans.

- :mod:`segments`: the ``Segments`` type (units, exclusive end frames).
- :mod:`alignment`: transition-id alignment → segments at each level.
- :mod:`text`: LM text → unit sequences (teacher training data).
- :mod:`io`: segments on disk (``load_unit_segments(units_dir, levels)``).
- :mod:`vocab`, :mod:`spm`: vocabularies, sentencepiece (lang dirs: :class:`kaldi_kd.gmm.lang.Lang`).
"""

from kaldi_kd.units.segments import Segments, from_frames, from_spans

__all__ = ["Segments", "from_frames", "from_spans"]
