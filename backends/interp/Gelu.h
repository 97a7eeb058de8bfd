//===- Gelu.h - GELU activation, tanh approximation ------------------------===//
//
// gelu(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), the approximation GPT-2
// and BERT's original code use (PyTorch's approximate="tanh"); the backward is
// the exact derivative of this approximation, not of the erf form.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_GELU_H
#define PFC_BACKENDS_INTERP_GELU_H

#include "Param.h"

namespace pfc::interp {

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
