"""kaldi_kd.lm: teacher LMs over unit sequences (causal, masked, bidir)."""

from kaldi_kd.lm.teacher import KINDS, Teacher

__all__ = ["KINDS", "Teacher", "load_teacher", "train_lm", "LMConfig", "UnitLM"]


def __getattr__(name):  # lazy: keep `import kaldi_kd.lm` light
    if name in ("load_teacher", "train_lm", "LMConfig"):
        from kaldi_kd.lm import train

        return getattr(train, name)
    if name == "UnitLM":
        from kaldi_kd.lm.models import UnitLM

        return UnitLM
    raise AttributeError(name)
