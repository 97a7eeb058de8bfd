//===- Embedding.h - token and learned position embeddings -----------------===//
//
// Layer 0 of the model: row r = b·Seq + t of the output is
// Token[tokens[r]] + Position[t]. Its input is token ids, not a tensor, which
// is why it is the one layer without an input gradient. With
// SaveForCurvature (K-FAC on the embedding, KfacOptimizer.h) the backward
// also keeps each micro-batch's ids and output gradient.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_EMBEDDING_H
#define PFC_BACKENDS_INTERP_EMBEDDING_H

#include "Param.h"
#include "Random.h"

#include <span>

namespace pfc::interp {

template <typename T> class Embedding {
public:
  Embedding(const std::string &Name, int64_t Vocab, int64_t Hidden, int64_t Seq);

  void init(Rng &R, double Std);
  /// [tokens.size(), Hidden]; tokens.size() must be a multiple of Seq.
  Tensor<T> forward(int32_t Mb, std::span<const int32_t> Tokens);
  /// Scatter-adds dY into the tables' gradients; frees \p Mb's saved ids.
  void backward(int32_t Mb, const Tensor<T> &DY);
  ParamList<T> params() { return {&Token, &Position}; }
  int64_t vocab() const { return Token.Value.rows(); }
  int64_t seq() const { return Position.Value.rows(); }

  bool SaveForCurvature = false;
  MicrobatchStore<std::vector<int32_t>> CurvatureIds;
  MicrobatchStore<Tensor<T>> CurvatureGrads;

  Param<T> Token;    ///< [Vocab, Hidden]
  Param<T> Position; ///< [Seq, Hidden]

private:
  MicrobatchStore<std::vector<int32_t>> Ids;
};

extern template class Embedding<float>;
extern template class Embedding<double>;

} // namespace pfc::interp

#endif
