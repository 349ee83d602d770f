// Token-passing lattice decoder over an HCLG graph (the search of Kaldi's
// latgen-faster-mapped, written for this project).
//
// Per frame: tokens (one per active graph state) of the previous frame within the
// pruning cutoff (beam, tightened to keep at most max_active tokens and loosened to
// keep at least min_active, with an adaptive beam) follow their emitting arcs,
// scored by scale * loglike(frame, pdf of the transition-id); the new tokens then
// follow epsilon-input arcs.  Every arc taken is kept as a forward link (with its
// graph and acoustic cost), so the surviving tokens and links form the raw
// state-level lattice.  Every prune_interval frames, links and tokens that cannot
// lie on a path within lattice_beam of the best one (judged with each token's
// "extra cost" relative to the currently best tokens) are removed; at the end the
// final-state costs are added and the whole lattice is pruned with lattice_beam.
#ifndef KALDI_KD_LATTICE_DECODER_H_
#define KALDI_KD_LATTICE_DECODER_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fst_graph.h"
#include "raw_lattice.h"

namespace kkd {

struct DecoderOptions {
  float beam = 16.0f;
  float lattice_beam = 10.0f;
  int32_t max_active = std::numeric_limits<int32_t>::max();
  int32_t min_active = 200;
  int32_t prune_interval = 25;
  float beam_delta = 0.5f;
  float prune_scale = 0.1f;
};

// Log-likelihoods of one utterance: row t of a (T x num_pdfs) row-major matrix;
// transition-id i scores scale * row[tid2pdf[i]].
struct MappedLoglikes {
  const float *data = nullptr;
  int32_t num_frames = 0;
  int32_t num_pdfs = 0;
  const int32_t *tid2pdf = nullptr;  // indexed by transition-id (entry 0 unused)
  int32_t num_tids = 0;              // valid transition-ids are 1 .. num_tids - 1
  float scale = 1.0f;
};

struct DecodeStats {
  int64_t tokens_created = 0;
  int64_t links_created = 0;
  int64_t active_sum = 0;  // sum over frames of tokens expanded
  int64_t prune_visits = 0;  // tokens visited by the lattice pruning passes
  int32_t frames = 0;
};

// Fixed-size object pool; memory is kept between utterances.  Freed objects go on a
// stack of pointers rather than a list threaded through the objects: taking one back
// then reads the (cached) stack, not the cold object, which would make every
// allocation wait for memory.
template <class T>
class Pool {
 public:
  T *Alloc() {
    if (!free_.empty()) {
      T *p = free_.back();
      free_.pop_back();
      return p;
    }
    if (pos_ == kBlock) {
      ++block_;
      pos_ = 0;
    }
    if (block_ == blocks_.size()) blocks_.emplace_back(new T[kBlock]);
    return &blocks_[block_][pos_++];
  }
  void Free(T *p) { free_.push_back(p); }
  void Reset() {
    free_.clear();
    block_ = 0;
    pos_ = 0;
  }

 private:
  static constexpr size_t kBlock = 4096;
  std::vector<std::unique_ptr<T[]>> blocks_;
  size_t block_ = 0, pos_ = 0;
  std::vector<T *> free_;
};

class LatticeDecoder {
 public:
  LatticeDecoder(const Graph &graph, const DecoderOptions &opts);

  // Decodes one utterance; false (with *err) on bad input (a transition-id outside
  // the model, an arc to a missing state).  "No surviving token" is not an error
  // here: the raw lattice is then empty.
  bool Decode(const MappedLoglikes &ll, std::string *err);
  bool ReachedFinal() const { return final_relative_cost_ != std::numeric_limits<float>::infinity(); }
  float FinalRelativeCost() const { return final_relative_cost_; }
  // The pruned raw lattice; final weights are the graph's final costs, or One on
  // every last-frame token when no final state was reached (a partial lattice).
  // False when some frame has no token left.
  bool GetRawLattice(RawLattice *lat) const;
  const DecodeStats &Stats() const { return stats_; }

 private:
  struct Link;
  struct Token {
    float tot_cost;    // best cost from the start, relative to the frame offsets
    float extra_cost;  // how far off the best path through any surviving token
    Link *links;       // forward links
    int32_t id;        // scratch (lattice output)
    float final_cost;  // the graph's final cost (set on the last frame)
  };
  struct Link {
    Token *to;
    int32_t ilabel, olabel;
    float graph_cost, acoustic_cost;
    Link *next;
  };
  struct Frame {
    // in creation order; an array rather than a list, so that passes over a frame can
    // prefetch the tokens ahead (they are scattered in memory)
    std::vector<Token *> toks;
    bool prune_links = true;   // forward links of these tokens need a pruning pass
    bool prune_tokens = true;  // tokens may have become unreachable
    // kSorted: toks in topological order of the epsilon links (set at the first pruning;
    // removing tokens and links keeps it), so one pruning pass is exact
    enum Order { kUnsorted, kSorted, kCyclic } order = kUnsorted;
  };

  void Reset();
  Token *FindOrAdd(int32_t state, int32_t frame_index, float cost, bool *changed);
  float Cutoff(float *adaptive_beam, int32_t *best_index);
  bool Emit(const MappedLoglikes &ll, int32_t frame, float *next_cutoff, std::string *err);
  void ExpandEpsilons(float cutoff);
  void SortOnce(int32_t frame_index);
  bool PrunePass(int32_t frame_index, float delta, bool last, bool *links_removed);
  void PruneLinks(int32_t frame_index, float delta, bool *extra_changed, bool *links_removed);
  void PruneLinksLastFrame();
  void PruneTokens(int32_t frame_index);
  void PruneAll(float delta);
  void Finalize();
  void FreeLinks(Token *tok);
  void SortFrame(const std::vector<Token *> &toks, std::vector<Token *> *order) const;

  const Graph &graph_;
  DecoderOptions opts_;
  Pool<Token> token_pool_;
  Pool<Link> link_pool_;
  std::vector<Frame> frames_;        // frames_[t]: tokens after t frames
  std::vector<float> cost_offsets_;  // per frame, added to acoustic costs for stability
  // tokens of the newest frame: graph state -> token, and the states in creation order
  std::vector<Token *> state_tok_;
  std::vector<int32_t> cur_states_;
  std::vector<std::pair<int32_t, Token *>> prev_;  // the frame being expanded
  std::vector<float> costs_scratch_;
  std::vector<int32_t> queue_;
  bool any_final_ = false;  // some last-frame token is in a final state
  float final_relative_cost_ = std::numeric_limits<float>::infinity();
  float final_best_cost_ = 0.0f;
  DecodeStats stats_;
};

}  // namespace kkd

#endif  // KALDI_KD_LATTICE_DECODER_H_
