//===- KfacOptimizer.cpp - K-FAC preconditioned SGD with momentum ----------===//
#include "KfacOptimizer.h"

#include <algorithm>
#include <cassert>

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

template <typename T> void KfacOptimizer<T>::setEmbedding(Embedding<T> *E) {
  assert(!Sharded && "a sharded K-FAC optimizer does not precondition the embedding");
  Embed = E;
  E->SaveForCurvature = true;
  const int64_t Hidden = E->Token.Value.cols();
  EmbedFactors.clear();
  EmbedFactors.emplace_back(E->vocab(), Hidden);
  EmbedFactors.emplace_back(E->seq(), Hidden);
  for (size_t I = 0; I < 2; ++I) {
    Param<T> *P = I == 0 ? &E->Token : &E->Position;
    auto It = std::find(Params.begin(), Params.end(), P);
    assert(It != Params.end() && "embedding parameter missing from the parameter list");
    EmbedParams[I] = static_cast<int64_t>(It - Params.begin());
  }
}

template <typename T> void KfacOptimizer<T>::embeddingDirections(bool Refresh) {
  EmbeddingFactors<T> &Tok = EmbedFactors[0], &Pos = EmbedFactors[1];
  const std::vector<int32_t> Mbs = Embed->CurvatureGrads.keys();
  int64_t Rows = 0;
  for (int32_t Mb : Mbs)
    Rows += Embed->CurvatureGrads.get(Mb).rows();
  for (int32_t Mb : Mbs) {
    std::vector<int32_t> Ids = Embed->CurvatureIds.take(Mb);
    Tensor<T> DY = Embed->CurvatureGrads.take(Mb);
    std::vector<int32_t> Positions(Ids.size());
    for (size_t R = 0; R < Ids.size(); ++R)
      Positions[R] = static_cast<int32_t>(R % static_cast<size_t>(Embed->seq()));
    accumulateEmbeddingA(Tok, Ids);
    accumulateEmbeddingA(Pos, Positions);
    accumulateEmbeddingG(Tok, DY, T(1) / static_cast<T>(Rows));
  }
  // Both tables' outputs are the embedding's output: one G.
  Pos.SumG = Tok.SumG, Pos.RowsG = Tok.RowsG;
  for (size_t I = 0; I < 2; ++I) {
    EmbeddingFactors<T> &F = EmbedFactors[I];
    updateEmbeddingAverages(F, Opts.Decay);
    if (F.HasAverage && (Refresh || !F.HasInverse))
      invertEmbeddingFactors(F, Opts.Damping);
    if (!F.HasInverse)
      continue;
    Tensor<T> &Dir = Prepared[static_cast<size_t>(EmbedParams[I])];
    const Tensor<T> &V = Params[static_cast<size_t>(EmbedParams[I])]->Grad;
    Dir = preconditionEmbedding(F, V);
    SumDeltaDotV += dot(Dir, V);
  }
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

template <typename T> void KfacOptimizer<T>::directions(bool Refresh) {
  // Directions: the plain gradient unless a K-FAC layer overrides it.
  Prepared.clear(), Preconditioned.clear();
  Prepared.reserve(Params.size());
  for (Param<T> *P : Params)
    Prepared.push_back(P->Grad);
  SumDeltaDotV = 0;
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
    splitWeightBias(Delta, Prepared[static_cast<size_t>(W)],
                    B >= 0 ? &Prepared[static_cast<size_t>(B)] : nullptr);
    Preconditioned.push_back(I);
  }
  if (Embed) {
    embeddingDirections(Opts.PlanDriven ? EmbedRefresh : Refresh);
    EmbedRefresh = false;
  }
}

template <typename T> void KfacOptimizer<T>::prepare() {
  directions(false);
  if (!Sharded)
    return;
  // Δ (unclipped) replaces the gradient, for the reduce-scatter to sum;
  // with the clip, the raw gradient goes to ClipGrad for it to sum too.
  std::fill(ClipGrad.begin(), ClipGrad.end(), T(0));
  std::fill(Clipped.begin(), Clipped.end(), 0);
  std::vector<int64_t> Offset(Params.size() + 1, 0);
  for (size_t I = 0; I < Params.size(); ++I)
    Offset[I + 1] = Offset[I] + Params[I]->Value.numel();
  for (size_t I : Preconditioned) {
    auto [W, B] = ParamIndex[I];
    for (int64_t Idx : {W, B}) {
      if (Idx < 0)
        continue;
      const auto U = static_cast<size_t>(Idx);
      Tensor<T> &Grad = Params[U]->Grad;
      if (!ClipGrad.empty()) {
        std::copy(Grad.data(), Grad.data() + Grad.numel(), ClipGrad.data() + Offset[U]);
        Clipped[U] = 1;
      }
      Grad = std::move(Prepared[U]);
    }
  }
  Prepared.clear();
}

template <typename T> double KfacOptimizer<T>::shardDeltaDotV() {
  assert(Sharded && !ClipGrad.empty() && "shardDeltaDotV needs a sharded optimizer that clips");
  SumDeltaDotV = 0;
  forFlatRange(Params, ShardBegin, ShardEnd, [&](size_t I, int64_t J0, int64_t J1, int64_t Flat) {
    if (!Clipped[I])
      return;
    const T *Delta = Params[I]->Grad.data();
    for (int64_t J = J0; J < J1; ++J)
      SumDeltaDotV += static_cast<double>(Delta[J]) * ClipGrad[Flat + (J - J0)];
  });
  return SumDeltaDotV;
}

template <typename T> bool KfacOptimizer<T>::shard(int64_t Begin, int64_t End) {
  if (!Opts.PlanDriven || Embed)
    return false;
  const int64_t Size = flatSize(Params);
  ShardBegin = std::clamp<int64_t>(Begin, 0, Size);
  ShardEnd = std::clamp<int64_t>(End, ShardBegin, Size);
  ShardBuf.assign(static_cast<size_t>(ShardEnd - ShardBegin), T(0));
  if (Opts.KlClip > 0) {
    ClipGrad.assign(static_cast<size_t>(Size), T(0));
    Clipped.assign(Params.size(), 0);
  }
  Bufs.clear(), Prepared.clear();
  Sharded = true;
  return true;
}

template <typename T> int64_t KfacOptimizer<T>::stateElements() const {
  if (Sharded)
    return static_cast<int64_t>(ShardBuf.size());
  int64_t N = 0;
  for (const Tensor<T> &B : Bufs)
    N += B.numel();
  return N;
}

template <typename T> void KfacOptimizer<T>::step() {
  if (Sharded)
    return stepWithClip(1);
  if (Prepared.empty())
    directions(refreshDue());
  stepWithClip(klClipFactor(SumDeltaDotV, Opts.Sgd.Lr, Opts.KlClip));
}

template <typename T> void KfacOptimizer<T>::stepWithClip(double Nu) {
  Clip = Nu;
  if (Sharded) {
    // The gradients' shard holds the replicas' summed directions Δ (of the
    // K-FAC layers) and gradients (of the rest).
    std::vector<T> Scaled;
    forFlatRange(Params, ShardBegin, ShardEnd, [&](size_t I, int64_t J0, int64_t J1, int64_t Flat) {
      Param<T> &P = *Params[I];
      const T *Dir = P.Grad.data() + J0;
      if (Nu != 1 && !Clipped.empty() && Clipped[I]) {
        Scaled.assign(Dir, Dir + (J1 - J0));
        for (T &V : Scaled)
          V *= static_cast<T>(Nu);
        Dir = Scaled.data();
      }
      momentumUpdate(P.Value.data() + J0, Dir, ShardBuf.data() + (Flat - ShardBegin), J1 - J0,
                     Opts.Sgd);
    });
    ++Steps;
    return;
  }
  if (Prepared.empty())
    directions(refreshDue());
  for (size_t I : Preconditioned) {
    auto [W, B] = ParamIndex[I];
    for (int64_t Idx : {W, B})
      if (Idx >= 0)
        for (int64_t J = 0; J < Prepared[static_cast<size_t>(Idx)].numel(); ++J)
          Prepared[static_cast<size_t>(Idx)][J] *= static_cast<T>(Clip);
  }
  if (Embed)
    for (size_t I = 0; I < 2; ++I)
      if (EmbedFactors[I].HasInverse)
        for (T &V : Prepared[static_cast<size_t>(EmbedParams[I])].storage())
          V *= static_cast<T>(Clip);
  for (size_t I = 0; I < Params.size(); ++I)
    momentumUpdate(*Params[I], Prepared[I], Bufs[I], Opts.Sgd);
  Prepared.clear();
  ++Steps;
}

template <typename T> void KfacOptimizer<T>::invertPending(size_t Layer) {
  invertIntoPending(Factors[Layer], Pending[Layer],
                    [&](auto &F) { return invertFactors(F, Opts.Damping); });
}

template <typename T> void KfacOptimizer<T>::activatePending() {
  EmbedRefresh = true;
  for (size_t I = 0; I < Layers.size(); ++I)
    interp::activatePending(Factors[I], Pending[I]);
}

template <typename T> void KfacOptimizer<T>::refreshAll() {
  EmbedRefresh = true;
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
