//===- Gelu.cpp - GELU activation, tanh approximation ----------------------===//
#include "Gelu.h"

namespace pfc::interp {
namespace {
constexpr double Sqrt2OverPi = 0.7978845608028654;
constexpr double Cubic = 0.044715;
} // namespace

template <typename T> void geluForward(const T *__restrict X, T *__restrict Y, int64_t N) {
  for (int64_t I = 0; I < N; ++I) {
    const T V = X[I];
    Y[I] = T(0.5) * V * (T(1) + geluTanh<T>(T(Sqrt2OverPi) * (V + T(Cubic) * V * V * V)));
  }
}

template <typename T>
void geluBackward(const T *__restrict X, const T *__restrict DY, T *__restrict DX, int64_t N) {
  for (int64_t I = 0; I < N; ++I) {
    const T V = X[I];
    const T Th = geluTanh<T>(T(Sqrt2OverPi) * (V + T(Cubic) * V * V * V));
    const T DU = T(Sqrt2OverPi) * (T(1) + T(3 * Cubic) * V * V);
    DX[I] = DY[I] * (T(0.5) * (T(1) + Th) + T(0.5) * V * (T(1) - Th * Th) * DU);
  }
}

template <typename T> Tensor<T> Gelu<T>::forward(int32_t Mb, const Tensor<T> &X) {
  Tensor<T> Y(X.shape());
  geluForward(X.data(), Y.data(), X.numel());
  Inputs.put(Mb, X);
  return Y;
}

template <typename T> Tensor<T> Gelu<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  Tensor<T> X = Inputs.take(Mb);
  Tensor<T> DX(X.shape());
  geluBackward(X.data(), DY.data(), DX.data(), X.numel());
  return DX;
}

template void geluForward(const float *, float *, int64_t);
template void geluForward(const double *, double *, int64_t);
template void geluBackward(const float *, const float *, float *, int64_t);
template void geluBackward(const double *, const double *, double *, int64_t);
template class Gelu<float>;
template class Gelu<double>;

} // namespace pfc::interp
