"""kaldi_kd.units"""
