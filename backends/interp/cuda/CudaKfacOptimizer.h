//===- CudaKfacOptimizer.h - K-FAC preconditioned SGD on the GPU -----------===//
//
// The GPU twin of KfacOptimizer.h, with the same behaviour in both modes
// (read it there): factors and inverses live on the GPU (CudaKfac.h), the
// directions Δ = G⁻¹ [dW | db] A⁻¹ are cuBLAS GEMMs, ⟨Δ, V⟩ for the KL clip
// is summed in double on the GPU and ν = klClipFactor (Kfac.h) on the host,
// and the update is the GPU momentum SGD. Plan-driven mode is what the CUDA
// executor's K-FAC tasks (CudaKfacTasks.h) drive.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAKFACOPTIMIZER_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAKFACOPTIMIZER_H

#include "CudaKfac.h"
#include "CudaOptimizer.h"

#include "backends/interp/KfacOptimizer.h"

namespace pfc::interp::cuda {

template <typename T> class KfacOptimizer : public Optimizer<T> {
public:
  /// K-FAC for \p Layers, whose parameters must be among \p Params.
  KfacOptimizer(DeviceParamList<T> Params, std::vector<Linear<T> *> Layers, const KfacOptions &O,
                Lane &L);

  std::string_view name() const override { return "kfac"; }
  /// η of the update and of the KL clip (KfacOptimizer.h).
  void setLearningRate(double Lr) override { Opts.Sgd.Lr = Lr; }
  double learningRate() const override { return Opts.Sgd.Lr; }
  void curvatureA(Lane &L, size_t Layer, int32_t Mb);
  void curvatureB(Lane &L, size_t Layer, int32_t Mb, T Scale);
  void curvatureAll(Lane &L, T Scale);
  bool refreshDue() const { return Opts.refreshDue(Steps); }
  void step(Lane &L) override;
  void stepWithClip(Lane &L, double Nu);

  void prepare(Lane &L);
  bool prepared() const { return !Prepared.empty(); }
  double deltaDotV() const { return SumDeltaDotV; }
  void invertPending(Lane &L, size_t Layer);
  void activatePending();
  void refreshAll(Lane &L);
  int64_t indexOf(const Linear<T> *Layer) const;
  Linear<T> *layer(size_t I) const { return Layers[I]; }
  DeviceFactors<T> &mutableFactors(size_t Layer) { return Factors[Layer]; }
  const KfacOptions &options() const { return Opts; }
  size_t numLayers() const { return Layers.size(); }
  double lastClip() const { return Clip; }

private:
  DeviceParamList<T> Params;
  std::vector<Linear<T> *> Layers;
  KfacOptions Opts;
  std::vector<DeviceFactors<T>> Factors;
  std::vector<DeviceTensor<T>> Bufs;
  std::vector<std::pair<int64_t, int64_t>> ParamIndex;
  int64_t Steps = 0;
  double Clip = 1, SumDeltaDotV = 0;
  std::vector<std::pair<DeviceTensor<T>, DeviceTensor<T>>> Pending;
  std::vector<DeviceTensor<T>> Prepared;
  std::vector<size_t> Preconditioned;

  void directions(Lane &L, bool Refresh);
};

extern template class KfacOptimizer<float>;
extern template class KfacOptimizer<double>;

} // namespace pfc::interp::cuda

#endif
