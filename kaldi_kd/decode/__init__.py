"""Log-likelihoods -> WFST decoding through HCLG -> word lattices (``lat.N.gz``).

Modules:
    lattice      LatticeWeight semiring, Lattice / CompactLattice, scale, penalty, best path, prune
    lattice_codec  one Lattice / CompactLattice <-> Kaldi's binary (OpenFst) or text bytes
    fst_properties the OpenFst header properties Kaldi's text reader leaves (byte-exact binary)
    lattice_io   lattice tables as Kaldi reads/writes them: ark (binary/text, gzip, pipes), scp
    determinize  word-level pruned determinization (like lattice-determinize-pruned): the
                 Python reference of the compiled one
    decoder      MappedDecoder (latgen-faster-mapped), graph reading, GMM log-likelihoods
    _latgen      the compiled decoder and determinizer (sources in csrc/, built by
                 ``pip install -e .``)
    jobs         one decode job -> lat.JOB.gz (embedded or Kaldi's latgen-faster-mapped)
    stage        the decode stage behind steps_py/decode.py and decode_gmm.py
    toy          tiny monophone systems and synthetic log-likelihoods for tests/benchmarks
"""
