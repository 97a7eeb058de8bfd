//===- Gelu.h - GELU activation, tanh approximation ------------------------===//
//
// gelu(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), the approximation GPT-2
// and BERT's original code use (PyTorch's approximate="tanh"); the backward is
// the exact derivative of this approximation, not of the erf form.
//
// Speed: std::tanh is a scalar libm call the compiler cannot vectorise, and
// it was ~40% of a CPU training step. fp32 uses geluTanh<float>, a 13/6
// rational interpolant (Eigen's generic_fast_tanh_float) clamped to ±7.9053,
// where it is exactly ±1: only multiplies, adds, one divide and min/max, so
// the loops vectorise. Its absolute error against std::tanh is below
// GeluTanhMaxError over all floats (GeluTest checks it, and the GELU and
// its derivative against std::tanh-based references). fp64 keeps std::tanh:
// the fp64 tests compare with finite differences and other backends to
// 1e-10.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_GELU_H
#define PFC_BACKENDS_INTERP_GELU_H

#include "Param.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace pfc::interp {

/// Bound on |geluTanh<float>(u) − tanh(u)| for every float u.
inline constexpr double GeluTanhMaxError = 5e-7;

/// tanh as GELU computes it: rational and vectorisable in fp32, std::tanh
/// in fp64.
template <typename T> inline T geluTanh(T U) {
  if constexpr (std::is_same_v<T, float>) {
    const float X = std::min(7.90531110763549805f, std::max(-7.90531110763549805f, U));
    const float X2 = X * X;
    float P = -2.76076847742355e-16f;
    P = P * X2 + 2.00018790482477e-13f;
    P = P * X2 - 8.60467152213735e-11f;
    P = P * X2 + 5.12229709037114e-08f;
    P = P * X2 + 1.48572235717979e-05f;
    P = P * X2 + 6.37261928875436e-04f;
    P = P * X2 + 4.89352455891786e-03f;
    float Q = 1.19825839466702e-06f;
    Q = Q * X2 + 1.18534705686654e-04f;
    Q = Q * X2 + 2.26843463243900e-03f;
    Q = Q * X2 + 4.89352518554385e-03f;
    return X * P / Q;
  } else {
    return std::tanh(U);
  }
}

/// y = gelu(x) and, with \p Dx non-null, dX = dY · gelu'(x), elementwise
/// over \p N values (the kernels of Gelu; also what GeluTest checks).
template <typename T> void geluForward(const T *X, T *Y, int64_t N);
template <typename T> void geluBackward(const T *X, const T *DY, T *DX, int64_t N);

template <typename T> class Gelu {
public:
  Tensor<T> forward(int32_t Mb, const Tensor<T> &X);
  /// Returns dX; frees \p Mb's saved input.
  Tensor<T> backward(int32_t Mb, const Tensor<T> &DY);

private:
  MicrobatchStore<Tensor<T>> Inputs;
};

extern template class Gelu<float>;
extern template class Gelu<double>;

} // namespace pfc::interp

#endif
