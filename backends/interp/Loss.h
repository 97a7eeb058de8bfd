//===- Loss.h - cross-entropy and squared-error losses ---------------------===//
//
// Both losses return the mean over rows of the per-row loss ℓᵢ (what is
// reported) and write Scale · Σᵢ ∂ℓᵢ/∂input as the gradient. Scale = 1/rows
// makes that the gradient of the mean; a pipelined step passes
// 1/(rows in the whole step) to every micro-batch so that the summed
// gradients are those of the step's mean loss whatever the micro-batch sizes.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_LOSS_H
#define PFC_BACKENDS_INTERP_LOSS_H

#include "Tensor.h"

#include <span>

namespace pfc::interp {

/// ℓᵢ = −log softmax(Logits[i])[Targets[i]]. \p DLogits (may be null)
/// receives Scale · (softmax − onehot).
template <typename T>
double crossEntropy(const Tensor<T> &Logits, std::span<const int32_t> Targets, T Scale,
                    Tensor<T> *DLogits);

/// ℓᵢ = ½ ‖Pred[i] − Target[i]‖². \p DPred (may be null) receives
/// Scale · (Pred − Target).
template <typename T>
double squaredError(const Tensor<T> &Pred, const Tensor<T> &Target, T Scale, Tensor<T> *DPred);

} // namespace pfc::interp

#endif
