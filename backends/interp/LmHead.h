//===- LmHead.h - final LayerNorm, vocabulary projection, cross-entropy ----===//
//
// Layer L+1 of the model (pre-LN Transformers end with a LayerNorm before the
// head). The projection is an ordinary Linear with bias and its own weights;
// tied embeddings are not modelled. The loss is the mean over the
// micro-batch's tokens; the gradient the backward starts from is scaled by
// the caller's loss scale (see Loss.h).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_LMHEAD_H
#define PFC_BACKENDS_INTERP_LMHEAD_H

#include "LayerNorm.h"
#include "Linear.h"

#include <span>

namespace pfc::interp {

template <typename T> class LmHead {
public:
  LmHead(const std::string &Name, int64_t Hidden, int64_t Vocab);

  void init(Rng &R, double Std) { Proj.init(R, Std); }
  /// Mean cross-entropy over the rows of \p X against \p Targets.
  double forward(int32_t Mb, const Tensor<T> &X, std::span<const int32_t> Targets);
  /// dX of Scale · Σ(token losses); frees \p Mb's state.
  Tensor<T> backward(int32_t Mb, T Scale);
  ParamList<T> params();
  std::vector<Linear<T> *> linears() { return {&Proj}; }

  LayerNorm<T> Norm;
  Linear<T> Proj;

private:
  struct Saved {
    Tensor<T> Logits;
    std::vector<int32_t> Targets;
  };
  MicrobatchStore<Saved> Cache;
};

extern template class LmHead<float>;
extern template class LmHead<double>;

} // namespace pfc::interp

#endif
