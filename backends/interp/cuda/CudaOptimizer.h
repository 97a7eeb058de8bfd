//===- CudaOptimizer.h - SGD with momentum and AdamW on the GPU ------------===//
//
// The GPU twins of Optimizer.h's SGD and AdamW (same update formulas, one
// kernel per parameter). State (momentum buffers, Adam moments) lives on the
// GPU, zero at the start. step() issues on the lane of the plan device that
// runs the stage's OPTIMIZER_STEP.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAOPTIMIZER_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAOPTIMIZER_H

#include "CudaLayers.h"

#include "backends/interp/Optimizer.h"

namespace pfc::interp::cuda {

template <typename T> class Optimizer {
public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;
  /// Updates every parameter from its accumulated gradient.
  virtual void step(Lane &L) = 0;
  /// η of the following steps, as interp::Optimizer::setLearningRate.
  virtual void setLearningRate(double Lr) = 0;
  virtual double learningRate() const = 0;
};

/// Buf = μ Buf + Dir + wd·P, P −= η Buf.
template <typename T>
void momentumUpdate(Lane &L, DeviceParam<T> &P, const DeviceTensor<T> &Dir,
                    DeviceTensor<T> &Buf, const SgdOptions &O);

template <typename T>
std::unique_ptr<Optimizer<T>> createSgd(DeviceParamList<T> Params, const SgdOptions &O, Lane &L);
template <typename T>
std::unique_ptr<Optimizer<T>> createAdamW(DeviceParamList<T> Params, const AdamOptions &O,
                                          Lane &L);

} // namespace pfc::interp::cuda

#endif
