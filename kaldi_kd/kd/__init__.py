"""kaldi_kd.kd"""
