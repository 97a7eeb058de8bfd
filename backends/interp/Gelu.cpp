//===- Gelu.cpp - GELU activation, tanh approximation ----------------------===//
#include "Gelu.h"

#include <cmath>

namespace pfc::interp {
namespace {
constexpr double Sqrt2OverPi = 0.7978845608028654;
constexpr double Cubic = 0.044715;
} // namespace

template <typename T> Tensor<T> Gelu<T>::forward(int32_t Mb, const Tensor<T> &X) {
  Tensor<T> Y(X.shape());
  for (int64_t I = 0; I < X.numel(); ++I) {
    T V = X[I];
    Y[I] = T(0.5) * V * (T(1) + std::tanh(T(Sqrt2OverPi) * (V + T(Cubic) * V * V * V)));
  }
  Inputs.put(Mb, X);
  return Y;
}

template <typename T> Tensor<T> Gelu<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  Tensor<T> X = Inputs.take(Mb);
  Tensor<T> DX(X.shape());
  for (int64_t I = 0; I < X.numel(); ++I) {
    T V = X[I];
    T Th = std::tanh(T(Sqrt2OverPi) * (V + T(Cubic) * V * V * V));
    T DU = T(Sqrt2OverPi) * (T(1) + T(3 * Cubic) * V * V);
    DX[I] = DY[I] * (T(0.5) * (T(1) + Th) + T(0.5) * V * (T(1) - Th * Th) * DU);
  }
  return DX;
}

template class Gelu<float>;
template class Gelu<double>;

} // namespace pfc::interp
