// Word-level pruned determinization of raw state-level lattices (what Kaldi's
// lattice-determinize-pruned computes), written for this project; the algorithm is
// the one of kaldi_kd/decode/determinize.py, which documents it and serves as the
// reference in the tests:
//
// 1. the raw lattice is pruned to the arcs on paths within `beam` of its best path
//    (forward-backward), states renumbered topologically;
// 2. subset construction on the arc labels in the (graph, acoustic, transition-id
//    string) semiring: a determinized state is a set of input states that have
//    labelled arcs or a final weight, each with a residual weight and string; the
//    epsilon closure of each successor set is computed on the fly (best path to each
//    state, states taken in topological order, not pruned, so that sets merge as in
//    Kaldi); each set is normalised (its best weight and the strings' common prefix
//    move onto the incoming arc); two sets are one state when they have the same
//    states and strings and total weights within `delta` (Kaldi's rule);
// 3. determinized states are expanded best-first by forward cost plus exact
//    completion cost (A*), so nothing beyond best + beam is ever expanded, and a
//    label's arcs out of a state are followed only if the best of them is on a path
//    within the beam (Kaldi's task pruning);
// 4. the result is pruned with `beam` and renumbered topologically.
// The output has one path per word sequence within the beam: that sequence's best
// path, with its alignment and both costs.  Transition-id strings live in a trie.
//
// With a phone table (transition-id -> phone when the transition-id starts a phone,
// else 0) the determinization runs in two passes, as Kaldi's
// DeterminizeLatticePhonePruned does: first on words and phone marks (inserted as
// Kaldi inserts them), then, after the result is expanded to a state-level lattice
// with the phone marks removed, on words.  The word sequences and costs are those of
// one pass on words; the states are those of Kaldi's latgen-faster-mapped, hence the
// same out-of-beam paths (golden test in tests/test_latgen.py).
#ifndef KALDI_KD_LATTICE_DETERMINIZE_H_
#define KALDI_KD_LATTICE_DETERMINIZE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "raw_lattice.h"

namespace kkd {

struct DeterminizeOptions {
  double beam = 8.0;
  double delta = 1.0 / 1024;
  int32_t max_states = 200000;    // past it: retry with a 25 % smaller beam
  int64_t max_raw_arcs = 150000;  // past it: the beam is tightened to keep the best arcs
};

struct DeterminizeInfo {
  double beam_used = 0.0;
  int32_t raw_states = 0, raw_arcs = 0;  // of the pruned raw lattice
  int32_t phone_states = 0;              // after the phone pass (two passes only)
  int32_t det_states = 0;                // determinized states created, all passes
  int64_t closure_visits = 0;            // states visited by closures (work measure)
  int32_t retries = 0;
  bool beam_tightened = false;
};

// `phone_start`: nullptr for one pass on words, else indexed by transition-id.
// Returns false with *err when the lattice has a cycle or the determinization stays
// too big even at a small beam.  An input without a successful path gives an empty
// output (start -1).
bool DeterminizeLatticePruned(const RawLattice &in, const DeterminizeOptions &opts,
                              const std::vector<int32_t> *phone_start, CompactLattice *out,
                              DeterminizeInfo *info, std::string *err);

}  // namespace kkd

#endif  // KALDI_KD_LATTICE_DETERMINIZE_H_
