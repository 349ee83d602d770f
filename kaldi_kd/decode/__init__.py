"""Log-likelihoods -> WFST decoding through HCLG -> word lattices (``lat.N.gz``).

Modules:
    lattice      LatticeWeight semiring, Lattice / CompactLattice, scale, penalty, best path, prune
    lattice_io   CompactLattice arks in Kaldi's text and binary formats (lat.N.gz)
    determinize  word-level pruned determinization (like lattice-determinize-pruned)
    decoder      MappedDecoder (latgen-faster-mapped), GMM log-likelihoods, best-path fallback
    jobs         one decode job -> lat.JOB.gz (embedded or Kaldi's latgen-faster-mapped)
    stage        the decode stage behind steps_py/decode.py and decode_gmm.py
    toy          tiny monophone systems and synthetic log-likelihoods for tests/benchmarks
"""
