"""kaldi_kd.train"""
