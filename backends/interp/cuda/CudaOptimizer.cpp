//===- CudaOptimizer.cpp - SGD with momentum and AdamW on the GPU ----------===//
#include "CudaOptimizer.h"

#include "Kernels.h"

#include <cmath>

namespace pfc::interp::cuda {
namespace {

template <typename T> class Sgd : public Optimizer<T> {
public:
  Sgd(DeviceParamList<T> Ps, const SgdOptions &O, Lane &L) : Params(std::move(Ps)), Opts(O) {
    for (DeviceParam<T> *P : Params)
      Bufs.push_back(DeviceTensor<T>::zeros(P->Value.shape(), L.stream()));
  }
  std::string_view name() const override { return "sgd"; }
  void setLearningRate(double Lr) override { Opts.Lr = Lr; }
  double learningRate() const override { return Opts.Lr; }
  void step(Lane &L) override {
    for (size_t I = 0; I < Params.size(); ++I)
      momentumUpdate(L, *Params[I], Params[I]->Grad, Bufs[I], Opts);
  }

private:
  DeviceParamList<T> Params;
  SgdOptions Opts;
  std::vector<DeviceTensor<T>> Bufs;
};

template <typename T> class AdamW : public Optimizer<T> {
public:
  AdamW(DeviceParamList<T> Ps, const AdamOptions &O, Lane &L) : Params(std::move(Ps)), Opts(O) {
    for (DeviceParam<T> *P : Params) {
      M.push_back(DeviceTensor<T>::zeros(P->Value.shape(), L.stream()));
      V.push_back(DeviceTensor<T>::zeros(P->Value.shape(), L.stream()));
    }
  }
  std::string_view name() const override { return "adamw"; }
  void setLearningRate(double Lr) override { Opts.Lr = Lr; }
  double learningRate() const override { return Opts.Lr; }
  void step(Lane &L) override {
    ++Steps;
    const double C1 = 1 - std::pow(Opts.Beta1, Steps), C2 = 1 - std::pow(Opts.Beta2, Steps);
    for (size_t I = 0; I < Params.size(); ++I)
      adamW(Params[I]->Value.data(), Params[I]->Grad.data(), M[I].data(), V[I].data(),
            Params[I]->Value.numel(), Opts.Lr, Opts.Beta1, Opts.Beta2, Opts.Eps,
            Opts.WeightDecay, C1, C2, L.stream());
  }

private:
  DeviceParamList<T> Params;
  AdamOptions Opts;
  std::vector<DeviceTensor<T>> M, V;
  int64_t Steps = 0;
};

} // namespace

template <typename T>
void momentumUpdate(Lane &L, DeviceParam<T> &P, const DeviceTensor<T> &Dir,
                    DeviceTensor<T> &Buf, const SgdOptions &O) {
  sgdMomentum(P.Value.data(), Dir.data(), Buf.data(), P.Value.numel(), static_cast<T>(O.Lr),
              static_cast<T>(O.Momentum), static_cast<T>(O.WeightDecay), L.stream());
}

template <typename T>
std::unique_ptr<Optimizer<T>> createSgd(DeviceParamList<T> Params, const SgdOptions &O, Lane &L) {
  return std::make_unique<Sgd<T>>(std::move(Params), O, L);
}

template <typename T>
std::unique_ptr<Optimizer<T>> createAdamW(DeviceParamList<T> Params, const AdamOptions &O,
                                          Lane &L) {
  return std::make_unique<AdamW<T>>(std::move(Params), O, L);
}

#define PFC_CUDA_OPTIMIZER_INSTANTIATE(T)                                                    \
  template void momentumUpdate(Lane &, DeviceParam<T> &, const DeviceTensor<T> &,            \
                               DeviceTensor<T> &, const SgdOptions &);                       \
  template std::unique_ptr<Optimizer<T>> createSgd(DeviceParamList<T>, const SgdOptions &,   \
                                                   Lane &);                                  \
  template std::unique_ptr<Optimizer<T>> createAdamW(DeviceParamList<T>, const AdamOptions &, \
                                                     Lane &);
PFC_CUDA_OPTIMIZER_INSTANTIATE(float)
PFC_CUDA_OPTIMIZER_INSTANTIATE(double)
#undef PFC_CUDA_OPTIMIZER_INSTANTIATE

} // namespace pfc::interp::cuda
