// A decoding graph (HCLG) read from an OpenFst binary file.
//
// Both OpenFst layouts Kaldi writes are read: "const" (utils/mkgraph.sh) is
// memory-mapped and used in place (its state and arc records are read straight
// from the mapping, so processes decoding with the same graph share its pages),
// "vector" (kaldifst, our mkgraph) is parsed into arrays of the same records.
// Only the standard arc type (tropical float weights) is accepted.
#ifndef KALDI_KD_FST_GRAPH_H_
#define KALDI_KD_FST_GRAPH_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kkd {

// OpenFst's StdArc record: 16 bytes, as stored in a ConstFst file.
struct GraphArc {
  int32_t ilabel;
  int32_t olabel;
  float weight;
  int32_t nextstate;
};

// OpenFst's ConstFst state record (final weight, first arc, counts): 20 bytes.
struct GraphState {
  float final_cost;
  uint32_t pos;
  uint32_t narcs;
  uint32_t niepsilons;
  uint32_t noepsilons;
};

static_assert(sizeof(GraphArc) == 16, "GraphArc must match OpenFst's StdArc layout");
static_assert(sizeof(GraphState) == 20, "GraphState must match OpenFst's ConstState layout");

class Graph {
 public:
  // Reads `path`; on failure returns nullptr and sets *err to a message naming the file.
  static Graph *Read(const std::string &path, std::string *err);
  ~Graph();
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  int32_t Start() const { return start_; }
  int64_t NumStates() const { return num_states_; }
  int64_t NumArcs() const { return num_arcs_; }
  // Records are copied out with memcpy: an unaligned ConstFst file (OpenFst's
  // default) has them at odd offsets.
  GraphState State(int32_t s) const {
    GraphState st;
    std::memcpy(&st, state_bytes_ + sizeof(GraphState) * static_cast<size_t>(s), sizeof st);
    return st;
  }
  GraphArc Arc(size_t i) const {
    GraphArc a;
    std::memcpy(&a, arc_bytes_ + sizeof(GraphArc) * i, sizeof a);
    return a;
  }
  // Cache hints for a state record, and for its arcs (the record should be cached).
  void PrefetchState(int32_t s) const {
    __builtin_prefetch(state_bytes_ + sizeof(GraphState) * static_cast<size_t>(s));
  }
  void PrefetchArcs(int32_t s) const {
    const GraphState st = State(s);
    __builtin_prefetch(arc_bytes_ + sizeof(GraphArc) * static_cast<size_t>(st.pos));
  }
  bool Mapped() const { return map_base_ != nullptr; }
  const std::string &Kind() const { return kind_; }

 private:
  Graph() = default;
  bool ReadConst(const std::string &path, const unsigned char *data, size_t size, size_t pos,
                 bool aligned, std::string *err);
  bool ReadVector(const std::string &path, const unsigned char *data, size_t size, size_t pos,
                  std::string *err);

  int32_t start_ = -1;
  int64_t num_states_ = 0, num_arcs_ = 0;
  const unsigned char *state_bytes_ = nullptr;
  const unsigned char *arc_bytes_ = nullptr;
  std::vector<GraphState> own_states_;
  std::vector<GraphArc> own_arcs_;
  void *map_base_ = nullptr;
  size_t map_size_ = 0;
  std::string kind_;
};

}  // namespace kkd

#endif  // KALDI_KD_FST_GRAPH_H_
