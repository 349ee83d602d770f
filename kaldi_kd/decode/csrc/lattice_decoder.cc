// Token-passing lattice decoder (see lattice_decoder.h).
#include "lattice_decoder.h"

#include <algorithm>
#include <cmath>

namespace kkd {

namespace {

constexpr int32_t kPrefetch = 8;  // tokens prefetched ahead in the pruning passes
constexpr float kFloatInf = std::numeric_limits<float>::infinity();

// Relative comparison used to stop the final pruning iterations.
bool NearlyEqual(float a, float b, float delta) {
  if (a == b) return true;
  float diff = std::fabs(a - b);
  if (!std::isfinite(diff)) return false;
  return diff <= delta * std::max(std::fabs(a), std::fabs(b));
}

}  // namespace

LatticeDecoder::LatticeDecoder(const Graph &graph, const DecoderOptions &opts)
    : graph_(graph), opts_(opts), state_tok_(static_cast<size_t>(graph.NumStates()), nullptr) {}

void LatticeDecoder::Reset() {
  for (int32_t s : cur_states_) state_tok_[s] = nullptr;
  cur_states_.clear();
  prev_.clear();
  frames_.clear();
  cost_offsets_.clear();
  token_pool_.Reset();
  link_pool_.Reset();
  final_relative_cost_ = kFloatInf;
  final_best_cost_ = 0.0f;
  any_final_ = false;
  stats_ = DecodeStats();
}

LatticeDecoder::Token *LatticeDecoder::FindOrAdd(int32_t state, int32_t frame_index, float cost,
                                                 bool *changed) {
  Token *&slot = state_tok_[state];
  if (slot == nullptr) {
    Token *tok = token_pool_.Alloc();
    *tok = Token{cost, 0.0f, nullptr, -1, kFloatInf};
    frames_[frame_index].toks.push_back(tok);
    slot = tok;
    cur_states_.push_back(state);
    ++stats_.tokens_created;
    if (changed) *changed = true;
    return tok;
  }
  if (slot->tot_cost > cost) {
    slot->tot_cost = cost;
    if (changed) *changed = true;
  } else if (changed) {
    *changed = false;
  }
  return slot;
}

float LatticeDecoder::Cutoff(float *adaptive_beam, int32_t *best_index) {
  float best = kFloatInf;
  *best_index = -1;
  const int32_t n = static_cast<int32_t>(prev_.size());
  if (opts_.max_active == std::numeric_limits<int32_t>::max() && opts_.min_active == 0) {
    for (int32_t i = 0; i < n; ++i) {
      if (prev_[i].second->tot_cost < best) {
        best = prev_[i].second->tot_cost;
        *best_index = i;
      }
    }
    *adaptive_beam = opts_.beam;
    return best + opts_.beam;
  }
  std::vector<float> &costs = costs_scratch_;
  costs.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    float c = prev_[i].second->tot_cost;
    costs[i] = c;
    if (c < best) {
      best = c;
      *best_index = i;
    }
  }
  const float beam_cutoff = best + opts_.beam;
  float max_active_cutoff = kFloatInf, min_active_cutoff = kFloatInf;
  if (n > opts_.max_active) {
    std::nth_element(costs.begin(), costs.begin() + opts_.max_active, costs.end());
    max_active_cutoff = costs[opts_.max_active];
  }
  if (max_active_cutoff < beam_cutoff) {  // too many tokens within the beam
    *adaptive_beam = max_active_cutoff - best + opts_.beam_delta;
    return max_active_cutoff;
  }
  if (n > opts_.min_active) {
    if (opts_.min_active == 0) {
      min_active_cutoff = best;
    } else {
      // after the first partition the smallest max_active costs come first
      auto end = n > opts_.max_active ? costs.begin() + opts_.max_active : costs.end();
      std::nth_element(costs.begin(), costs.begin() + opts_.min_active, end);
      min_active_cutoff = costs[opts_.min_active];
    }
  }
  if (min_active_cutoff > beam_cutoff) {  // too few tokens within the beam
    *adaptive_beam = min_active_cutoff - best + opts_.beam_delta;
    return min_active_cutoff;
  }
  *adaptive_beam = opts_.beam;
  return beam_cutoff;
}

bool LatticeDecoder::Emit(const MappedLoglikes &ll, int32_t frame, float *next_cutoff_out,
                          std::string *err) {
  prev_.clear();
  for (int32_t s : cur_states_) {
    prev_.emplace_back(s, state_tok_[s]);
    state_tok_[s] = nullptr;
  }
  cur_states_.clear();
  frames_.emplace_back();
  const int32_t next_index = frame + 1;
  float adaptive_beam;
  int32_t best_index;
  const float cutoff = Cutoff(&adaptive_beam, &best_index);
  const float *row = ll.data + static_cast<size_t>(frame) * ll.num_pdfs;
  const float scale = ll.scale;
  const int32_t num_tids = ll.num_tids;
  const int64_t num_states = graph_.NumStates();

  float next_cutoff = kFloatInf;
  float cost_offset = 0.0f;
  if (best_index >= 0) {
    // a first estimate of the next frame's cutoff from the best token
    const int32_t state = prev_[best_index].first;
    const Token *tok = prev_[best_index].second;
    cost_offset = -tok->tot_cost;
    const GraphState st = graph_.State(state);
    for (uint32_t i = st.pos, e = st.pos + st.narcs; i < e; ++i) {
      const GraphArc arc = graph_.Arc(i);
      if (arc.ilabel == 0) continue;
      if (arc.ilabel < 0 || arc.ilabel >= num_tids) {
        *err = "graph arc with transition-id " + std::to_string(arc.ilabel) +
               " outside the model (1.." + std::to_string(num_tids - 1) + ")";
        return false;
      }
      const float loglike = scale * row[ll.tid2pdf[arc.ilabel]];
      const float w = arc.weight + cost_offset - loglike + tok->tot_cost;
      if (w + adaptive_beam < next_cutoff) next_cutoff = w + adaptive_beam;
    }
  }
  cost_offsets_.push_back(cost_offset);

  const size_t num_prev = prev_.size();
  for (size_t k = 0; k < num_prev; ++k) {
    // the graph and the tokens are far bigger than the caches: ask for them ahead
    if (k + 2 * kPrefetch < num_prev) {
      graph_.PrefetchState(prev_[k + 2 * kPrefetch].first);
      __builtin_prefetch(prev_[k + 2 * kPrefetch].second);
    }
    if (k + kPrefetch < num_prev) graph_.PrefetchArcs(prev_[k + kPrefetch].first);
    const auto &entry = prev_[k];
    Token *tok = entry.second;
    if (tok->tot_cost > cutoff) continue;
    ++stats_.active_sum;
    const GraphState st = graph_.State(entry.first);
    const float cur_cost = tok->tot_cost;
    for (uint32_t i = st.pos, e = st.pos + st.narcs; i < e; ++i) {
      const GraphArc arc = graph_.Arc(i);
      if (arc.ilabel == 0) continue;
      if (arc.ilabel < 0 || arc.ilabel >= num_tids) {
        *err = "graph arc with transition-id " + std::to_string(arc.ilabel) +
               " outside the model (1.." + std::to_string(num_tids - 1) + ")";
        return false;
      }
      const float ac_cost = cost_offset - scale * row[ll.tid2pdf[arc.ilabel]];
      const float graph_cost = arc.weight;
      const float tot_cost = cur_cost + ac_cost + graph_cost;
      if (tot_cost >= next_cutoff) continue;
      if (tot_cost + adaptive_beam < next_cutoff) next_cutoff = tot_cost + adaptive_beam;
      if (arc.nextstate < 0 || arc.nextstate >= num_states) {
        *err = "graph arc to a nonexistent state " + std::to_string(arc.nextstate);
        return false;
      }
      Token *next = FindOrAdd(arc.nextstate, next_index, tot_cost, nullptr);
      Link *link = link_pool_.Alloc();
      *link = Link{next, arc.ilabel, arc.olabel, graph_cost, ac_cost, tok->links};
      tok->links = link;
      ++stats_.links_created;
    }
  }
  *next_cutoff_out = next_cutoff;
  return true;
}

void LatticeDecoder::FreeLinks(Token *tok) {
  for (Link *l = tok->links; l != nullptr;) {
    Link *next = l->next;
    link_pool_.Free(l);
    l = next;
  }
  tok->links = nullptr;
}

void LatticeDecoder::ExpandEpsilons(float cutoff) {
  const int32_t frame_index = static_cast<int32_t>(frames_.size()) - 1;
  queue_.clear();
  const size_t n = cur_states_.size();
  for (size_t k = 0; k < n; ++k) {
    if (k + 2 * kPrefetch < n) graph_.PrefetchState(cur_states_[k + 2 * kPrefetch]);
    if (graph_.State(cur_states_[k]).niepsilons != 0) queue_.push_back(cur_states_[k]);
  }
  while (!queue_.empty()) {
    const int32_t state = queue_.back();
    queue_.pop_back();
    Token *tok = state_tok_[state];
    const float cur_cost = tok->tot_cost;
    if (cur_cost >= cutoff) continue;
    FreeLinks(tok);  // a token reached again with a better cost is re-expanded
    const GraphState st = graph_.State(state);
    for (uint32_t i = st.pos, e = st.pos + st.narcs; i < e; ++i) {
      const GraphArc arc = graph_.Arc(i);
      if (arc.ilabel != 0) continue;
      const float graph_cost = arc.weight;
      const float tot_cost = cur_cost + graph_cost;
      if (!(tot_cost < cutoff)) continue;
      if (arc.nextstate < 0 || arc.nextstate >= graph_.NumStates()) continue;
      bool changed;
      Token *next = FindOrAdd(arc.nextstate, frame_index, tot_cost, &changed);
      Link *link = link_pool_.Alloc();
      *link = Link{next, 0, arc.olabel, graph_cost, 0.0f, tok->links};
      tok->links = link;
      ++stats_.links_created;
      if (changed && graph_.State(arc.nextstate).niepsilons != 0) queue_.push_back(arc.nextstate);
    }
  }
}

void LatticeDecoder::SortOnce(int32_t frame_index) {
  Frame &fr = frames_[frame_index];
  if (fr.order != Frame::kUnsorted) return;
  std::vector<Token *> order;
  SortFrame(fr.toks, &order);
  if (order.size() == fr.toks.size()) {
    fr.toks.swap(order);
    fr.order = Frame::kSorted;
  } else {
    fr.order = Frame::kCyclic;  // an epsilon cycle: passes are repeated until nothing moves
  }
}

bool LatticeDecoder::PrunePass(int32_t frame_index, float delta, bool last, bool *links_removed) {
  const float lattice_beam = opts_.lattice_beam;
  std::vector<Token *> &toks = frames_[frame_index].toks;
  bool changed = false;
  // last token first: with the frame sorted, a token's epsilon successors are done before it
  for (int32_t i = static_cast<int32_t>(toks.size()) - 1; i >= 0; --i) {
    if (i >= kPrefetch) __builtin_prefetch(toks[i - kPrefetch]);
    if (i >= kPrefetch / 2 && toks[i - kPrefetch / 2]->links != nullptr)
      __builtin_prefetch(toks[i - kPrefetch / 2]->links);
    Token *tok = toks[i];
    ++stats_.prune_visits;
    float tok_extra = kFloatInf;
    if (last) tok_extra = tok->tot_cost + (any_final_ ? tok->final_cost : 0.0f) - final_best_cost_;
    Link **slot = &tok->links;
    while (*slot != nullptr) {
      Link *link = *slot;
      const Token *to = link->to;
      float link_extra =
          to->extra_cost + ((tok->tot_cost + link->acoustic_cost + link->graph_cost) - to->tot_cost);
      if (link_extra > lattice_beam) {  // off every path within the lattice beam
        *slot = link->next;
        link_pool_.Free(link);
        *links_removed = true;
      } else {
        if (link_extra < 0.0f) link_extra = 0.0f;  // rounding
        if (link_extra < tok_extra) tok_extra = link_extra;
        slot = &link->next;
      }
    }
    if (last && tok_extra > lattice_beam) tok_extra = kFloatInf;
    if (last ? !NearlyEqual(tok->extra_cost, tok_extra, delta) : std::fabs(tok_extra - tok->extra_cost) > delta)
      changed = true;
    tok->extra_cost = tok_extra;
  }
  return changed;
}

void LatticeDecoder::PruneLinks(int32_t frame_index, float delta, bool *extra_changed,
                                bool *links_removed) {
  *links_removed = false;
  SortOnce(frame_index);
  if (frames_[frame_index].order == Frame::kSorted) {  // one pass gives the exact extra costs
    *extra_changed = PrunePass(frame_index, delta, false, links_removed);
    return;
  }
  *extra_changed = false;
  while (PrunePass(frame_index, delta, false, links_removed)) *extra_changed = true;
}

void LatticeDecoder::PruneLinksLastFrame() {
  const int32_t last = static_cast<int32_t>(frames_.size()) - 1;
  float best = kFloatInf, best_with_final = kFloatInf;
  any_final_ = false;
  for (int32_t s : cur_states_) {
    Token *tok = state_tok_[s];
    const float final_cost = graph_.State(s).final_cost;
    best = std::min(best, tok->tot_cost);
    best_with_final = std::min(best_with_final, tok->tot_cost + final_cost);
    tok->final_cost = final_cost;
    if (final_cost != kFloatInf) any_final_ = true;
    state_tok_[s] = nullptr;
  }
  cur_states_.clear();
  final_relative_cost_ =
      (best == kFloatInf && best_with_final == kFloatInf) ? kFloatInf : best_with_final - best;
  final_best_cost_ = best_with_final != kFloatInf ? best_with_final : best;
  SortOnce(last);
  bool unused;
  if (frames_[last].order == Frame::kSorted) {
    PrunePass(last, 1.0e-5f, true, &unused);
  } else {
    while (PrunePass(last, 1.0e-5f, true, &unused)) {
    }
  }
}

void LatticeDecoder::PruneTokens(int32_t frame_index) {
  std::vector<Token *> &toks = frames_[frame_index].toks;
  size_t kept = 0;
  for (Token *tok : toks) {
    if (tok->extra_cost == kFloatInf) {  // no forward link left within the lattice beam
      FreeLinks(tok);
      token_pool_.Free(tok);
    } else {
      toks[kept++] = tok;
    }
  }
  toks.resize(kept);
}

void LatticeDecoder::PruneAll(float delta) {
  // Frames from `boundary` on are left alone: their tokens keep extra cost 0 (as if all
  // were on the best path), a lower bound of their final extra cost, so nothing that
  // the final pruning would keep is ever removed here (the final lattice does not
  // depend on this schedule).  Pruning a frame only once it is an interval old, when
  // its paths have mostly merged, removes far more per pass than pruning it at once.
  const int32_t boundary = static_cast<int32_t>(frames_.size()) - 1 - opts_.prune_interval;
  for (int32_t f = boundary - 1; f >= 0; --f) {
    if (frames_[f].prune_links) {
      bool extra_changed, links_removed;
      PruneLinks(f, delta, &extra_changed, &links_removed);
      if (extra_changed && f > 0) frames_[f - 1].prune_links = true;
      if (links_removed) frames_[f].prune_tokens = true;
      frames_[f].prune_links = false;
    }
    if (f + 1 < boundary && frames_[f + 1].prune_tokens) {
      PruneTokens(f + 1);
      frames_[f + 1].prune_tokens = false;
    }
  }
}

void LatticeDecoder::Finalize() {
  const int32_t last = static_cast<int32_t>(frames_.size()) - 1;
  PruneLinksLastFrame();
  for (int32_t f = last - 1; f >= 0; --f) {
    bool unused1, unused2;
    PruneLinks(f, 0.0f, &unused1, &unused2);
    PruneTokens(f + 1);
  }
  PruneTokens(0);
}

bool LatticeDecoder::Decode(const MappedLoglikes &ll, std::string *err) {
  Reset();
  const int32_t start = graph_.Start();
  if (start < 0 || start >= graph_.NumStates()) {
    *err = "the graph has no start state";
    return false;
  }
  frames_.emplace_back();
  FindOrAdd(start, 0, 0.0f, nullptr);
  ExpandEpsilons(opts_.beam);
  for (int32_t t = 0; t < ll.num_frames; ++t) {
    if (t % opts_.prune_interval == 0) PruneAll(opts_.lattice_beam * opts_.prune_scale);
    float next_cutoff;
    if (!Emit(ll, t, &next_cutoff, err)) {
      Reset();
      return false;
    }
    ExpandEpsilons(next_cutoff);
  }
  stats_.frames = ll.num_frames;
  Finalize();
  return true;
}

void LatticeDecoder::SortFrame(const std::vector<Token *> &toks, std::vector<Token *> *order) const {
  // Kahn's algorithm over the epsilon links (which stay within the frame), creation order first
  const int32_t n = static_cast<int32_t>(toks.size());
  for (int32_t i = 0; i < n; ++i) toks[i]->id = i;
  std::vector<int32_t> indegree(n, 0);
  for (const Token *t : toks)
    for (const Link *l = t->links; l != nullptr; l = l->next)
      if (l->ilabel == 0) ++indegree[l->to->id];
  size_t head = order->size();
  for (int32_t i = 0; i < n; ++i)
    if (indegree[i] == 0) order->push_back(toks[i]);
  while (head < order->size()) {
    Token *t = (*order)[head++];
    for (const Link *l = t->links; l != nullptr; l = l->next)
      if (l->ilabel == 0 && --indegree[l->to->id] == 0) order->push_back(l->to);
  }
}

bool LatticeDecoder::GetRawLattice(RawLattice *lat) const {
  lat->Clear();
  const int32_t last = static_cast<int32_t>(frames_.size()) - 1;
  if (last < 0) return false;
  for (int32_t f = 0; f <= last; ++f)
    if (frames_[f].toks.empty()) return false;
  std::vector<Token *> order;
  std::vector<size_t> frame_begin(last + 2, 0);
  for (int32_t f = 0; f <= last; ++f) {
    frame_begin[f] = order.size();
    SortFrame(frames_[f].toks, &order);
    if (order.size() - frame_begin[f] != frames_[f].toks.size()) return false;  // epsilon cycle
  }
  frame_begin[last + 1] = order.size();
  for (size_t i = 0; i < order.size(); ++i) order[i]->id = static_cast<int32_t>(i);
  const bool any_final = any_final_;
  lat->start = 0;
  lat->final_graph.assign(order.size(), kFloatInf);
  lat->final_acoustic.assign(order.size(), 0.0f);
  lat->first.assign(order.size() + 1, 0);
  for (int32_t f = 0; f <= last; ++f) {
    const float offset = f < static_cast<int32_t>(cost_offsets_.size()) ? cost_offsets_[f] : 0.0f;
    for (size_t i = frame_begin[f]; i < frame_begin[f + 1]; ++i) {
      const Token *tok = order[i];
      // links are prepended as created: emit them in creation order
      size_t begin = lat->arcs.size();
      for (const Link *l = tok->links; l != nullptr; l = l->next) {
        const float ac = l->ilabel != 0 ? l->acoustic_cost - offset : l->acoustic_cost;
        lat->arcs.push_back(LatArc{l->ilabel, l->olabel, l->graph_cost, ac, l->to->id});
      }
      std::reverse(lat->arcs.begin() + begin, lat->arcs.end());
      lat->first[i + 1] = static_cast<uint32_t>(lat->arcs.size());
      if (f == last) {
        if (!any_final) {
          lat->final_graph[i] = 0.0f;
        } else if (tok->final_cost != kFloatInf) {
          lat->final_graph[i] = tok->final_cost;
        }
      }
    }
  }
  return true;
}

}  // namespace kkd
