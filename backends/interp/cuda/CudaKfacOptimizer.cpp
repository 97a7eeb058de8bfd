//===- CudaKfacOptimizer.cpp - K-FAC preconditioned SGD on the GPU ---------===//
#include "CudaKfacOptimizer.h"

#include "Kernels.h"

#include <algorithm>

namespace pfc::interp::cuda {
namespace {

/// Σ A·B in double, computed on the GPU.
template <typename T> double dotOnDevice(Lane &L, const DeviceTensor<T> &A, const DeviceTensor<T> &B) {
  DeviceTensor<double> Out({1});
  dotDouble(A.data(), B.data(), A.numel(), Out.data(), L.stream());
  return Out.download(L.stream())[0];
}

} // namespace

template <typename T>
KfacOptimizer<T>::KfacOptimizer(DeviceParamList<T> Ps, std::vector<Linear<T> *> Ls,
                                const KfacOptions &O, Lane &L)
    : Params(std::move(Ps)), Layers(std::move(Ls)), Opts(O) {
  auto IndexOf = [&](DeviceParam<T> *P) {
    auto It = std::find(Params.begin(), Params.end(), P);
    assert(It != Params.end() && "K-FAC layer parameter missing from the parameter list");
    return static_cast<int64_t>(It - Params.begin());
  };
  for (Linear<T> *Lin : Layers) {
    Lin->SaveForCurvature = true;
    Factors.emplace_back(Lin->inFeatures(), Lin->outFeatures(), Lin->hasBias(), L);
    ParamIndex.emplace_back(IndexOf(&Lin->Weight), Lin->hasBias() ? IndexOf(&Lin->Bias) : -1);
  }
  for (DeviceParam<T> *P : Params)
    Bufs.push_back(DeviceTensor<T>::zeros(P->Value.shape(), L.stream()));
  Pending.resize(Layers.size());
}

template <typename T> void KfacOptimizer<T>::curvatureA(Lane &L, size_t Layer, int32_t Mb) {
  accumulateA(L, Factors[Layer], Layers[Layer]->CurvatureInputs.take(Mb));
}

template <typename T>
void KfacOptimizer<T>::curvatureB(Lane &L, size_t Layer, int32_t Mb, T Scale) {
  accumulateG(L, Factors[Layer], Layers[Layer]->CurvatureGrads.take(Mb), Scale);
}

template <typename T> void KfacOptimizer<T>::curvatureAll(Lane &L, T Scale) {
  for (size_t I = 0; I < Layers.size(); ++I) {
    for (int32_t Mb : Layers[I]->CurvatureInputs.keys())
      curvatureA(L, I, Mb);
    for (int32_t Mb : Layers[I]->CurvatureGrads.keys())
      curvatureB(L, I, Mb, Scale);
  }
}

template <typename T> void KfacOptimizer<T>::directions(Lane &L, bool Refresh) {
  Prepared.clear(), Preconditioned.clear();
  Prepared.reserve(Params.size());
  for (DeviceParam<T> *P : Params)
    Prepared.push_back(P->Grad.clone(L.stream()));
  SumDeltaDotV = 0;
  for (size_t I = 0; I < Layers.size(); ++I) {
    DeviceFactors<T> &F = Factors[I];
    if (!Opts.PlanDriven) {
      updateAverages(L, F, Opts.Decay);
      if (F.HasAverage && (Refresh || !F.HasInverse))
        invertFactors(L, F, Opts.Damping);
    }
    if (!F.HasInverse)
      continue;
    Linear<T> &Lin = *Layers[I];
    DeviceTensor<T> V = joinWeightBias(L, Lin.Weight.Grad, Lin.hasBias() ? &Lin.Bias.Grad : nullptr);
    DeviceTensor<T> Delta = precondition(L, F.GInv, V, F.AInv);
    SumDeltaDotV += dotOnDevice(L, Delta, V);
    auto [W, B] = ParamIndex[I];
    splitWeightBias(L, Delta, Prepared[static_cast<size_t>(W)],
                    B >= 0 ? &Prepared[static_cast<size_t>(B)] : nullptr);
    Preconditioned.push_back(I);
  }
  L.sync(); // the temporaries above are freed on return
}

template <typename T> void KfacOptimizer<T>::prepare(Lane &L) { directions(L, false); }

template <typename T> void KfacOptimizer<T>::step(Lane &L) {
  if (Prepared.empty())
    directions(L, refreshDue());
  stepWithClip(L, klClipFactor(SumDeltaDotV, Opts.Sgd.Lr, Opts.KlClip));
}

template <typename T> void KfacOptimizer<T>::stepWithClip(Lane &L, double Nu) {
  if (Prepared.empty())
    directions(L, refreshDue());
  Clip = Nu;
  for (size_t I : Preconditioned) {
    auto [W, B] = ParamIndex[I];
    for (int64_t Idx : {W, B})
      if (Idx >= 0)
        scale(Prepared[static_cast<size_t>(Idx)].data(), Prepared[static_cast<size_t>(Idx)].numel(),
              static_cast<T>(Clip), L.stream());
  }
  for (size_t I = 0; I < Params.size(); ++I)
    momentumUpdate(L, *Params[I], Prepared[I], Bufs[I], Opts.Sgd);
  L.sync();
  Prepared.clear();
  ++Steps;
}

template <typename T> void KfacOptimizer<T>::invertPending(Lane &L, size_t Layer) {
  invertIntoPending(Factors[Layer], Pending[Layer],
                    [&](auto &F) { return invertFactors(L, F, Opts.Damping); });
}

template <typename T> void KfacOptimizer<T>::activatePending() {
  for (size_t I = 0; I < Layers.size(); ++I)
    interp::activatePending(Factors[I], Pending[I]);
}

template <typename T> void KfacOptimizer<T>::refreshAll(Lane &L) {
  for (DeviceFactors<T> &F : Factors) {
    updateAverages(L, F, Opts.Decay);
    if (F.HasAverage)
      invertFactors(L, F, Opts.Damping);
  }
}

template <typename T> int64_t KfacOptimizer<T>::indexOf(const Linear<T> *Layer) const {
  auto It = std::find(Layers.begin(), Layers.end(), Layer);
  return It == Layers.end() ? -1 : static_cast<int64_t>(It - Layers.begin());
}

template class KfacOptimizer<float>;
template class KfacOptimizer<double>;

} // namespace pfc::interp::cuda
