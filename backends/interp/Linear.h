//===- Linear.h - fully connected layer y = x Wᵀ + b -----------------------===//
//
// The layer K-FAC preconditions. W is [out, in] (PyTorch's layout) and the
// input is any tensor whose last dimension is `in`; every other dimension is
// folded into rows, so each token is one row ("expand" in Eschenhagen et al.).
// For K-FAC the layer can keep each micro-batch's input and output gradient
// after its backward, until the plan's curvature tasks consume them.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_LINEAR_H
#define PFC_BACKENDS_INTERP_LINEAR_H

#include "Param.h"
#include "Random.h"

namespace pfc::interp {

template <typename T> class Linear {
public:
  Linear(std::string Name, int64_t In, int64_t Out, bool HasBias = true);

  int64_t inFeatures() const { return Weight.Value.cols(); }
  int64_t outFeatures() const { return Weight.Value.rows(); }
  bool hasBias() const { return !Bias.Value.empty(); }
  const std::string &name() const { return Name; }

  /// Weights N(0, Std²), bias zero.
  void init(Rng &R, double Std);

  /// Y = X Wᵀ + b; saves X under \p Mb for the backward.
  Tensor<T> forward(int32_t Mb, const Tensor<T> &X);
  /// Accumulates dW += dYᵀ X and db += Σ_rows dY, returns dX = dY W, and
  /// frees \p Mb's saved input (or hands it to the curvature store).
  Tensor<T> backward(int32_t Mb, const Tensor<T> &DY);

  ParamList<T> params();

  Param<T> Weight; ///< [out, in]
  Param<T> Bias;   ///< [out], empty without bias

  /// When set, forward keeps X in CurvatureInputs and backward keeps dY in
  /// CurvatureGrads, both keyed by micro-batch, for K-FAC's curvature tasks.
  bool SaveForCurvature = false;
  MicrobatchStore<Tensor<T>> CurvatureInputs;
  MicrobatchStore<Tensor<T>> CurvatureGrads;

private:
  std::string Name;
  MicrobatchStore<Tensor<T>> Inputs;
};

extern template class Linear<float>;
extern template class Linear<double>;

} // namespace pfc::interp

#endif
