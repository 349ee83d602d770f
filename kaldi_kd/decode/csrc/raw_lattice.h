// State-level lattices (Kaldi's "Lattice": transition-id inputs, word outputs,
// (graph, acoustic) costs) in compressed-row form, and word-level compact lattices
// (Kaldi's "CompactLattice": words with (graph, acoustic, transition-id string)).
#ifndef KALDI_KD_RAW_LATTICE_H_
#define KALDI_KD_RAW_LATTICE_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace kkd {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct LatArc {
  int32_t ilabel;  // transition-id, 0 = epsilon
  int32_t olabel;  // word, 0 = epsilon
  float graph;
  float acoustic;
  int32_t next;
};

// States are numbered so that every arc goes to a higher state (topological order).
struct RawLattice {
  int32_t start = -1;
  std::vector<uint32_t> first;  // arcs of state s: arcs[first[s] .. first[s+1])
  std::vector<LatArc> arcs;
  std::vector<float> final_graph, final_acoustic;  // +inf graph cost: not final

  int32_t NumStates() const { return static_cast<int32_t>(final_graph.size()); }
  bool IsFinal(int32_t s) const { return final_graph[s] != std::numeric_limits<float>::infinity(); }
  void Clear() {
    start = -1;
    first.assign(1, 0);
    arcs.clear();
    final_graph.clear();
    final_acoustic.clear();
  }
};

struct CompactArc {
  int32_t word;
  double graph, acoustic;
  int32_t string;  // id in the determinizer's string table
  int32_t next;
};

struct CompactFinal {
  bool is_final = false;
  double graph = 0.0, acoustic = 0.0;
  int32_t string = 0;
};

struct CompactLattice {
  int32_t start = -1;
  std::vector<std::vector<CompactArc>> arcs;
  std::vector<CompactFinal> finals;
  std::vector<std::vector<int32_t>> strings;  // transition-id strings by id; 0 is empty

  int32_t NumStates() const { return static_cast<int32_t>(arcs.size()); }
  int32_t AddState() {
    arcs.emplace_back();
    finals.emplace_back();
    return NumStates() - 1;
  }
};

}  // namespace kkd

#endif  // KALDI_KD_RAW_LATTICE_H_
