"""kaldi-kd: knowledge distillation from language models into Kaldi hybrid acoustic models.

Sub-packages (one concept each): ``kaldi`` (backend detection, Kaldi wheels),
``data`` (data dirs, tables), ``gmm`` (embedded GMM-HMM stage), ``units``
(unit sequences), ``lm`` (teacher LMs), ``kd`` (soft targets and KD losses),
``am`` (acoustic models), ``train`` (training loop), ``decode`` (WFST decoding),
``score`` (sclite scoring).
"""

__version__ = "0.1.0"
