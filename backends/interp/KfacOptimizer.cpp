//===- KfacOptimizer.cpp - K-FAC preconditioned SGD with momentum ----------===//
#include "KfacOptimizer.h"

#include <algorithm>

namespace pfc::interp {

template <typename T>
KfacOptimizer<T>::KfacOptimizer(ParamList<T> Ps, std::vector<Linear<T> *> Ls,
                                const KfacOptions &O)
    : Params(std::move(Ps)), Layers(std::move(Ls)), Opts(O) {
  auto IndexOf = [&](Param<T> *P) {
    auto It = std::find(Params.begin(), Params.end(), P);
    assert(It != Params.end() && "K-FAC layer parameter missing from the parameter list");
    return static_cast<int64_t>(It - Params.begin());
  };
  for (Linear<T> *L : Layers) {
    L->SaveForCurvature = true;
    Factors.emplace_back(L->inFeatures(), L->outFeatures(), L->hasBias());
    ParamIndex.emplace_back(IndexOf(&L->Weight), L->hasBias() ? IndexOf(&L->Bias) : -1);
  }
  for (Param<T> *P : Params)
    Bufs.emplace_back(P->Value.shape());
  Pending.resize(Layers.size());
}

template <typename T> void KfacOptimizer<T>::curvatureA(size_t Layer, int32_t Mb) {
  accumulateA(Factors[Layer], Layers[Layer]->CurvatureInputs.take(Mb));
}

template <typename T> void KfacOptimizer<T>::curvatureB(size_t Layer, int32_t Mb, T Scale) {
  accumulateG(Factors[Layer], Layers[Layer]->CurvatureGrads.take(Mb), Scale);
}

template <typename T> void KfacOptimizer<T>::curvatureAll(T Scale) {
  for (size_t I = 0; I < Layers.size(); ++I) {
    for (int32_t Mb : Layers[I]->CurvatureInputs.keys())
      curvatureA(I, Mb);
    for (int32_t Mb : Layers[I]->CurvatureGrads.keys())
      curvatureB(I, Mb, Scale);
  }
}

template <typename T> bool KfacOptimizer<T>::refreshDue() const {
  if (Steps < Opts.WarmupSteps)
    return true;
  return (Steps - Opts.WarmupSteps) % std::max(1, Opts.RefreshInterval) == 0;
}

template <typename T>
std::vector<Tensor<T>> KfacOptimizer<T>::directions(bool Refresh) {
  // Directions: the plain gradient unless a K-FAC layer overrides it.
  std::vector<Tensor<T>> Dirs;
  Dirs.reserve(Params.size());
  for (Param<T> *P : Params)
    Dirs.push_back(P->Grad);
  std::vector<size_t> Preconditioned;
  double SumDeltaDotV = 0;
  for (size_t I = 0; I < Layers.size(); ++I) {
    KfacFactors<T> &F = Factors[I];
    if (!Opts.PlanDriven) {
      updateAverages(F, Opts.Decay);
      if (F.HasAverage && (Refresh || !F.HasInverse))
        invertFactors(F, Opts.Damping);
    }
    if (!F.HasInverse)
      continue;
    Linear<T> &L = *Layers[I];
    Tensor<T> V = joinWeightBias(L.Weight.Grad, L.hasBias() ? &L.Bias.Grad : nullptr);
    Tensor<T> Delta = precondition(F.GInv, V, F.AInv);
    SumDeltaDotV += dot(Delta, V);
    auto [W, B] = ParamIndex[I];
    splitWeightBias(Delta, Dirs[static_cast<size_t>(W)],
                    B >= 0 ? &Dirs[static_cast<size_t>(B)] : nullptr);
    Preconditioned.push_back(I);
  }
  Clip = klClipFactor(SumDeltaDotV, Opts.Sgd.Lr, Opts.KlClip);
  for (size_t I : Preconditioned) {
    auto [W, B] = ParamIndex[I];
    for (int64_t Idx : {W, B})
      if (Idx >= 0)
        for (int64_t J = 0; J < Dirs[static_cast<size_t>(Idx)].numel(); ++J)
          Dirs[static_cast<size_t>(Idx)][J] *= static_cast<T>(Clip);
  }
  return Dirs;
}

template <typename T> void KfacOptimizer<T>::prepare() { Prepared = directions(false); }

template <typename T> void KfacOptimizer<T>::step() {
  std::vector<Tensor<T>> Dirs =
      Prepared.empty() ? directions(refreshDue()) : std::move(Prepared);
  Prepared.clear();
  for (size_t I = 0; I < Params.size(); ++I)
    momentumUpdate(*Params[I], Dirs[I], Bufs[I], Opts.Sgd);
  ++Steps;
}

template <typename T> void KfacOptimizer<T>::invertPending(size_t Layer) {
  KfacFactors<T> &F = Factors[Layer];
  if (!F.HasAverage)
    return;
  // invertFactors writes the active inverses: compute there, then swap back.
  Tensor<T> AInv = std::move(F.AInv), GInv = std::move(F.GInv);
  const bool Had = F.HasInverse;
  if (invertFactors(F, Opts.Damping))
    Pending[Layer] = {std::move(F.AInv), std::move(F.GInv)};
  F.AInv = std::move(AInv), F.GInv = std::move(GInv), F.HasInverse = Had;
}

template <typename T> void KfacOptimizer<T>::activatePending() {
  for (size_t I = 0; I < Layers.size(); ++I) {
    if (Pending[I].first.empty())
      continue;
    Factors[I].AInv = std::move(Pending[I].first);
    Factors[I].GInv = std::move(Pending[I].second);
    Factors[I].HasInverse = true;
    Pending[I] = {};
  }
}

template <typename T> void KfacOptimizer<T>::refreshAll() {
  for (KfacFactors<T> &F : Factors) {
    updateAverages(F, Opts.Decay);
    if (F.HasAverage)
      invertFactors(F, Opts.Damping);
  }
}

template <typename T> int64_t KfacOptimizer<T>::indexOf(const Linear<T> *L) const {
  auto It = std::find(Layers.begin(), Layers.end(), L);
  return It == Layers.end() ? -1 : static_cast<int64_t>(It - Layers.begin());
}

template class KfacOptimizer<float>;
template class KfacOptimizer<double>;

} // namespace pfc::interp
