//===- Block.h - one pre-LN Transformer block ------------------------------===//
//
//   h = x + Attention(LN₁(x)),   y = h + W₂ GELU(W₁ LN₂(h) + b₁) + b₂
// Pre-LN (GPT-2 style) rather than BERT's post-LN: it trains without warm-up
// at the small sizes the interpreter runs, and the plan does not depend on
// the choice. Six Linear layers: query, key, value, attention output, MLP in,
// MLP out — the count model.proto's linear_layers_per_block defaults to.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_BLOCK_H
#define PFC_BACKENDS_INTERP_BLOCK_H

#include "Attention.h"
#include "Gelu.h"
#include "LayerNorm.h"

namespace pfc::interp {

template <typename T> class Block {
public:
  Block(const std::string &Name, int64_t Hidden, int64_t Ffn, int64_t Heads, int64_t Seq);

  /// Linear weights N(0, Std²); the two projections back into the residual
  /// stream N(0, ResidualStd²) (GPT-2 scales them by 1/√(2·layers)).
  void init(Rng &R, double Std, double ResidualStd);
  Tensor<T> forward(int32_t Mb, const Tensor<T> &X);
  Tensor<T> backward(int32_t Mb, const Tensor<T> &DY);
  ParamList<T> params();
  std::vector<Linear<T> *> linears();

  LayerNorm<T> Norm1;
  Attention<T> Attn;
  LayerNorm<T> Norm2;
  Linear<T> Fc1, Fc2;
  Gelu<T> Act;
};

extern template class Block<float>;
extern template class Block<double>;

} // namespace pfc::interp

#endif
