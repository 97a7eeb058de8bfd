//===- LayerNorm.h - layer normalisation over the feature dimension --------===//
//
// y = γ ⊙ (x − mean(x)) / sqrt(var(x) + ε) + β per row, with the biased
// variance and ε = 1e-5 (PyTorch's defaults). Statistics are computed in the
// tensor's precision.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_LAYERNORM_H
#define PFC_BACKENDS_INTERP_LAYERNORM_H

#include "Param.h"

namespace pfc::interp {

template <typename T> class LayerNorm {
public:
  LayerNorm(std::string Name, int64_t Features, double Eps = 1e-5);

  /// γ = 1, β = 0.
  void init();
  Tensor<T> forward(int32_t Mb, const Tensor<T> &X);
  /// Accumulates dγ, dβ and returns dX; frees \p Mb's saved state.
  Tensor<T> backward(int32_t Mb, const Tensor<T> &DY);
  ParamList<T> params() { return {&Gamma, &Beta}; }

  Param<T> Gamma, Beta;

private:
  struct Saved {
    Tensor<T> Normalized;    ///< (x − mean) · rstd
    std::vector<T> InvStd;   ///< per row
  };
  double Eps;
  MicrobatchStore<Saved> Cache;
};

extern template class LayerNorm<float>;
extern template class LayerNorm<double>;

} // namespace pfc::interp

#endif
