//===- LayerNorm.cpp - layer normalisation over the feature dimension ------===//
//
// Backward, with x̂ the normalised input, g = dy ⊙ γ and H features:
//   dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)).
//
//===----------------------------------------------------------------------===//
#include "LayerNorm.h"

#include <cmath>

namespace pfc::interp {

template <typename T>
LayerNorm<T>::LayerNorm(std::string Name, int64_t Features, double Eps)
    : Gamma(Name + ".gamma", {Features}), Beta(Name + ".beta", {Features}), Eps(Eps) {
  init();
}

template <typename T> void LayerNorm<T>::init() {
  Gamma.Value.fill(T(1));
  Beta.Value.fill(T(0));
}

template <typename T> Tensor<T> LayerNorm<T>::forward(int32_t Mb, const Tensor<T> &X) {
  const int64_t H = Gamma.Value.numel();
  assert(X.cols() == H && "LayerNorm: input width differs from the layer's");
  Saved S{Tensor<T>(X.shape()), std::vector<T>(static_cast<size_t>(X.rows()))};
  Tensor<T> Y(X.shape());
  for (int64_t R = 0; R < X.rows(); ++R) {
    const T *Row = &X.at(R, 0);
    T Mean = 0, Var = 0;
    for (int64_t J = 0; J < H; ++J)
      Mean += Row[J];
    Mean /= T(H);
    for (int64_t J = 0; J < H; ++J)
      Var += (Row[J] - Mean) * (Row[J] - Mean);
    Var /= T(H);
    T Rstd = T(1) / std::sqrt(Var + T(Eps));
    S.InvStd[static_cast<size_t>(R)] = Rstd;
    for (int64_t J = 0; J < H; ++J) {
      T N = (Row[J] - Mean) * Rstd;
      S.Normalized.at(R, J) = N;
      Y.at(R, J) = Gamma.Value[J] * N + Beta.Value[J];
    }
  }
  Cache.put(Mb, std::move(S));
  return Y;
}

template <typename T> Tensor<T> LayerNorm<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  Saved S = Cache.take(Mb);
  const int64_t H = Gamma.Value.numel();
  Tensor<T> DX(DY.shape());
  std::vector<T> G(static_cast<size_t>(H));
  for (int64_t R = 0; R < DY.rows(); ++R) {
    T MeanG = 0, MeanGX = 0;
    for (int64_t J = 0; J < H; ++J) {
      T D = DY.at(R, J), N = S.Normalized.at(R, J);
      Gamma.Grad[J] += D * N;
      Beta.Grad[J] += D;
      G[J] = D * Gamma.Value[J];
      MeanG += G[J];
      MeanGX += G[J] * N;
    }
    MeanG /= T(H);
    MeanGX /= T(H);
    T Rstd = S.InvStd[static_cast<size_t>(R)];
    for (int64_t J = 0; J < H; ++J)
      DX.at(R, J) = Rstd * (G[J] - MeanG - S.Normalized.at(R, J) * MeanGX);
  }
  return DX;
}

template class LayerNorm<float>;
template class LayerNorm<double>;

} // namespace pfc::interp
