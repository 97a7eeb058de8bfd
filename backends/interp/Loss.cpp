//===- Loss.cpp - cross-entropy and squared-error losses -------------------===//
#include "Loss.h"

#include <cmath>

namespace pfc::interp {

template <typename T>
double crossEntropy(const Tensor<T> &Logits, std::span<const int32_t> Targets, T Scale,
                    Tensor<T> *DLogits) {
  const int64_t Rows = Logits.rows(), V = Logits.cols();
  assert(static_cast<int64_t>(Targets.size()) == Rows && "crossEntropy: one target per row");
  if (DLogits)
    *DLogits = Tensor<T>(Logits.shape());
  double Total = 0;
  for (int64_t R = 0; R < Rows; ++R) {
    const T *Row = &Logits.at(R, 0);
    const int32_t Target = Targets[static_cast<size_t>(R)];
    assert(Target >= 0 && Target < V && "crossEntropy: target out of range");
    T Max = Row[0];
    for (int64_t J = 1; J < V; ++J)
      Max = std::max(Max, Row[J]);
    T Sum = 0;
    for (int64_t J = 0; J < V; ++J)
      Sum += std::exp(Row[J] - Max);
    const T LogSum = std::log(Sum) + Max;
    Total += static_cast<double>(LogSum - Row[Target]);
    if (DLogits) {
      T *D = &DLogits->at(R, 0);
      for (int64_t J = 0; J < V; ++J)
        D[J] = Scale * std::exp(Row[J] - LogSum);
      D[Target] -= Scale;
    }
  }
  return Rows ? Total / static_cast<double>(Rows) : 0.0;
}

template <typename T>
double squaredError(const Tensor<T> &Pred, const Tensor<T> &Target, T Scale, Tensor<T> *DPred) {
  assert(Pred.numel() == Target.numel() && "squaredError: shapes differ");
  if (DPred)
    *DPred = Tensor<T>(Pred.shape());
  double Total = 0;
  for (int64_t I = 0; I < Pred.numel(); ++I) {
    T Diff = Pred[I] - Target[I];
    Total += 0.5 * static_cast<double>(Diff) * static_cast<double>(Diff);
    if (DPred)
      (*DPred)[I] = Scale * Diff;
  }
  return Pred.rows() ? Total / static_cast<double>(Pred.rows()) : 0.0;
}

template double crossEntropy(const Tensor<float> &, std::span<const int32_t>, float,
                             Tensor<float> *);
template double crossEntropy(const Tensor<double> &, std::span<const int32_t>, double,
                             Tensor<double> *);
template double squaredError(const Tensor<float> &, const Tensor<float> &, float,
                             Tensor<float> *);
template double squaredError(const Tensor<double> &, const Tensor<double> &, double,
                             Tensor<double> *);

} // namespace pfc::interp
