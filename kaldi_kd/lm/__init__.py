"""kaldi_kd.lm"""
