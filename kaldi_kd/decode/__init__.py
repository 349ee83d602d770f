"""Log-likelihoods -> WFST decoding through HCLG -> word lattices (``lat.N.gz``).

Modules:
    lattice      LatticeWeight semiring, Lattice / CompactLattice, scale, penalty, best path, prune
    lattice_io   CompactLattice arks in Kaldi's text and binary formats (lat.N.gz)
    determinize  word-level pruned determinization (like lattice-determinize-pruned): the
                 Python reference of the compiled one
    decoder      MappedDecoder (latgen-faster-mapped), graph reading, GMM log-likelihoods
    _latgen      the compiled decoder and determinizer (sources in csrc/, built by
                 ``pip install -e .``)
    jobs         one decode job -> lat.JOB.gz (embedded or Kaldi's latgen-faster-mapped)
    stage        the decode stage behind steps_py/decode.py and decode_gmm.py
    toy          tiny monophone systems and synthetic log-likelihoods for tests/benchmarks
"""
