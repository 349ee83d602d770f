"""kaldi_kd.am"""
