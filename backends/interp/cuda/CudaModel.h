//===- CudaModel.h - the Transformer LM on the GPU, split like the plan ----===//
//
// The GPU twin of Model.h: layers numbered as in plan.proto (0 embedding,
// 1..L blocks, L+1 head), forward/backward of a layer range for one
// micro-batch with saved state per micro-batch. It is built from a CPU
// Model<T> whose parameters it uploads, so the CPU and CUDA backends train
// the same initial weights, and can copy its values and gradients back
// (download) for comparisons, validation and reports.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAMODEL_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAMODEL_H

#include "CudaLayers.h"

#include "backends/interp/Model.h"

namespace pfc::interp::cuda {

template <typename T> class Model {
public:
  Model(const interp::Model<T> &Cpu, Lane &L);

  const ModelConfig &config() const { return Cfg; }
  int32_t numLayers() const { return Cfg.Layers + 2; }

  /// Forward of layers [Begin, End) for micro-batch \p Mb (as Model.h). With
  /// End == numLayers() the result is empty and \p Loss gets the mean loss.
  DeviceTensor<T> forward(Lane &L, int32_t Begin, int32_t End, int32_t Mb, const Batch &Data,
                          const DeviceTensor<T> &In, double *Loss);
  /// Backward of layers [Begin, End) (as Model.h); empty with Begin == 0.
  DeviceTensor<T> backward(Lane &L, int32_t Begin, int32_t End, int32_t Mb,
                           const DeviceTensor<T> &DOut, T LossScale);

  DeviceParamList<T> params(int32_t Begin, int32_t End);
  DeviceParamList<T> params() { return params(0, numLayers()); }
  std::vector<Linear<T> *> linears(int32_t Begin, int32_t End);
  std::vector<Linear<T> *> linears() { return linears(0, numLayers()); }
  void zeroGrad(Lane &L);
  /// Copies every parameter's value and gradient into \p Cpu (same config).
  void download(Lane &L, interp::Model<T> &Cpu);

  Embedding<T> Embed;
  std::vector<std::unique_ptr<Block<T>>> Blocks;
  LmHead<T> Head;

private:
  ModelConfig Cfg;
};

extern template class Model<float>;
extern template class Model<double>;

} // namespace pfc::interp::cuda

#endif
