"""kaldi_kd.decode"""
