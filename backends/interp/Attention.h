//===- Attention.h - causal multi-head self-attention ----------------------===//
//
// Input and output are [sequences * Seq, Hidden] with each sequence's tokens
// in consecutive rows. Q, K, V and the output projection are four Linear
// layers (with bias), so K-FAC sees the six Linear layers of a BERT/GPT block
// (with the MLP's two). Head h owns columns [h·d, (h+1)·d) of Q, K and V,
// d = Hidden / Heads; scores are scaled by 1/√d and token i attends to tokens
// j ≤ i only.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_ATTENTION_H
#define PFC_BACKENDS_INTERP_ATTENTION_H

#include "Linear.h"

namespace pfc::interp {

template <typename T> class Attention {
public:
  Attention(const std::string &Name, int64_t Hidden, int64_t Heads, int64_t Seq);

  /// Q, K, V weights N(0, Std²); the output projection N(0, OutStd²).
  void init(Rng &R, double Std, double OutStd);
  Tensor<T> forward(int32_t Mb, const Tensor<T> &X);
  /// Accumulates the projections' gradients and returns dX; frees \p Mb's state.
  Tensor<T> backward(int32_t Mb, const Tensor<T> &DY);
  ParamList<T> params();
  std::vector<Linear<T> *> linears() { return {&Query, &Key, &Value, &Output}; }

  Linear<T> Query, Key, Value, Output;

private:
  struct Saved {
    Tensor<T> Q, K, V;
    Tensor<T> Probs; ///< [sequences, heads, Seq, Seq] softmax of the masked scores
  };
  int64_t Hidden, Heads, Seq;
  MicrobatchStore<Saved> Cache;
};

extern template class Attention<float>;
extern template class Attention<double>;

} // namespace pfc::interp

#endif
