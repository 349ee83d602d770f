"""Scoring: sclite, Kaldi-style WER files, LMWT x WIP sweeps, bootstrap CIs, comparisons.

Modules:
    wer          ErrorCounts and Kaldi's ``%WER x [ e / n, i ins, d del, s sub ]`` line
    sclite       trn files, running sclite, parsing its raw/pra reports
    ci           bootstrap CI of WER; paired bootstrap of a WER difference
    score_dir    score a decode dir (steps_py/score.py)
    compare      RESULTS-style table (``kaldi-kd compare DIR...``)
"""
