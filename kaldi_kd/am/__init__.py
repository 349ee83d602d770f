"""kaldi_kd.am: the hybrid acoustic model.

- ``model``: ``HybridModel`` (encoder + senone head + aux heads), ``ModelConfig``, ``ModelOutput``;
  encoders in ``tdnn`` (TDNN, TDNN-F), ``blstm``, ``conformer``.
- ``data``: features + pdf alignments -> ``Batch`` (utterances or chunks), bucketed
  resumable sharded sampler.
- ``objective``: the ``Objective`` protocol and ``CEObjective``.
- ``priors``: prior counts (Kaldi text vector) and floored log priors.
- ``forward``: scaled log-likelihood arks for decoding (``steps_py/nnet_forward.py``).
"""
