//===- CudaKfacTasks.cpp - the plan's K-FAC tasks on the GPU ---------------===//
//
// Threads as in KfacTasks.cpp: a task touches only its stage's optimizer and
// layers, on its device's lane; sumFactors runs once every member arrived,
// on the last arrival's lane (the members' lanes have synchronised).
//
//===----------------------------------------------------------------------===//
#include "CudaKfacTasks.h"

#include "Kernels.h"

namespace pfc::interp::cuda {
namespace {

/// Rows [Piece·R/Pieces, (Piece+1)·R/Pieces) of \p X as a matrix.
template <typename T>
DeviceTensor<T> pieceRows(Lane &L, const DeviceTensor<T> &X, int32_t Piece, int32_t Pieces) {
  const int64_t R = X.rows(), C = X.cols();
  const int64_t Begin = Pieces <= 1 ? 0 : R * Piece / Pieces;
  const int64_t End = Pieces <= 1 ? R : R * (Piece + 1) / Pieces;
  DeviceTensor<T> Out = DeviceTensor<T>::matrix(End - Begin, C);
  if (End > Begin && Out.data())
    PFC_CUDA_CHECK(cudaMemcpyAsync(Out.data(), X.data() + Begin * C, Out.bytes(),
                                   cudaMemcpyDeviceToDevice, L.stream()));
  return Out;
}

} // namespace

template <typename T>
KfacTasks<T>::KfacTasks(const Program &P, const std::vector<Model<T> *> &Replicas)
    : P(P), Replicas(Replicas), Opts(P.Stages.size(), nullptr), States(P.Stages.size()),
      CycleSteps(std::max(1, P.Time.CycleSteps)) {
  for (const Task &Tk : P.Tasks)
    if (isCycleTask(Tk.Kind) && Tk.Kind != proto::FACTOR_ALL_REDUCE) {
      int32_t &N = Pieces[{static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, Tk.Microbatch}];
      N = std::max(N, Tk.Piece + 1);
    }
}

template <typename T> void KfacTasks<T>::setOptimizer(int32_t Stage, KfacOptimizer<T> *Opt) {
  Opts[static_cast<size_t>(Stage)] = Opt;
  States[static_cast<size_t>(Stage)] = std::vector<LayerState>(Opt ? Opt->numLayers() : 0);
}

template <typename T> bool KfacTasks<T>::active() const {
  for (KfacOptimizer<T> *Opt : Opts)
    if (Opt)
      return true;
  return false;
}

template <typename T>
std::vector<size_t> KfacTasks<T>::layersOf(int32_t Stage, int32_t Layer) const {
  std::vector<size_t> Out;
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Stage)];
  if (!Opt)
    return Out;
  Model<T> &M = *Replicas[static_cast<size_t>(P.Stages[Stage].Pipeline)];
  for (Linear<T> *Lin : M.linears(Layer, Layer + 1))
    if (int64_t I = Opt->indexOf(Lin); I >= 0)
      Out.push_back(static_cast<size_t>(I));
  return Out;
}

template <typename T> void KfacTasks<T>::beginStep(int64_t Step, T StepScale) {
  Scale = StepScale;
  WarmupStep = Step < Warmup;
  if (WarmupStep)
    return;
  Phase = static_cast<int32_t>((Step - Warmup) % CycleSteps);
  if (Phase == 0)
    for (KfacOptimizer<T> *Opt : Opts)
      if (Opt)
        Opt->activatePending();
}

template <typename T> bool KfacTasks<T>::runs(const Task &Tk) const {
  return !WarmupStep && Tk.CycleStep == Phase;
}

template <typename T>
bool KfacTasks<T>::satisfiedEarlier(const Task &Tk, const Task &Pred) const {
  return Tk.DataLag > 0 && (Pred.Kind == proto::FORWARD || Pred.Kind == proto::BACKWARD);
}

template <typename T> void KfacTasks<T>::curvature(Lane &L, const Task &Tk) {
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Tk.Stage)];
  if (!Opt)
    return;
  const bool IsA = Tk.Kind == proto::CURVATURE_A;
  const int32_t N = Pieces.at({static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, Tk.Microbatch});
  for (size_t I : layersOf(Tk.Stage, Tk.Layer)) {
    LayerState &S = States[static_cast<size_t>(Tk.Stage)][I];
    Linear<T> &Lin = *Opt->layer(I);
    const auto &Store = Tk.DataLag > 0 ? (IsA ? S.PrevInputs : S.PrevGrads)
                                       : (IsA ? Lin.CurvatureInputs : Lin.CurvatureGrads);
    if (!Store.contains(Tk.Microbatch))
      continue; // lagged data before the first step
    DeviceTensor<T> Rows = pieceRows(L, Store.get(Tk.Microbatch), Tk.Piece, N);
    if (IsA)
      accumulateA(L, Opt->mutableFactors(I), Rows);
    else
      accumulateG(L, Opt->mutableFactors(I), Rows, Tk.DataLag > 0 ? PrevScale : Scale);
  }
}

template <typename T> void KfacTasks<T>::invert(Lane &L, const Task &Tk) {
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Tk.Stage)];
  if (!Opt || Tk.Piece + 1 < Pieces.at({static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, -1}))
    return; // earlier pieces of a split inversion: no-ops here
  const bool IsA = Tk.Kind == proto::INVERT_A;
  const double Decay = Opt->options().Decay;
  for (size_t I : layersOf(Tk.Stage, Tk.Layer)) {
    LayerState &S = States[static_cast<size_t>(Tk.Stage)][I];
    DeviceFactors<T> &F = Opt->mutableFactors(I);
    if (IsA)
      updateAverageA(L, F, Decay), S.FoldedA = true;
    else
      updateAverageG(L, F, Decay), S.FoldedG = true;
    if (S.FoldedA && S.FoldedG) {
      Opt->invertPending(L, I);
      S.FoldedA = S.FoldedG = false;
    }
  }
}

template <typename T> void KfacTasks<T>::precondition(Lane &L, const Task &Tk) {
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Tk.Stage)];
  if (!Opt)
    return;
  if (WarmupStep) {
    Opt->curvatureAll(L, Scale);
    Opt->refreshAll(L);
  }
  Opt->prepare(L);
}

template <typename T>
void KfacTasks<T>::sumFactors(Lane &L, int32_t Layer, const std::vector<int32_t> &Stages) {
  std::vector<std::vector<size_t>> Idx;
  for (int32_t S : Stages)
    Idx.push_back(layersOf(S, Layer));
  auto Factors = [&](size_t R, size_t J) -> DeviceFactors<T> & {
    return Opts[static_cast<size_t>(Stages[R])]->mutableFactors(Idx[R][J]);
  };
  for (size_t J = 0; J < Idx[0].size(); ++J) {
    DeviceTensor<T> SumA = Factors(0, J).SumA.clone(L.stream());
    DeviceTensor<T> SumG = Factors(0, J).SumG.clone(L.stream());
    int64_t RowsA = Factors(0, J).RowsA, RowsG = Factors(0, J).RowsG;
    for (size_t R = 1; R < Stages.size(); ++R) {
      const DeviceFactors<T> &F = Factors(R, J);
      axpy(SumA.data(), F.SumA.data(), SumA.numel(), T(1), L.stream());
      axpy(SumG.data(), F.SumG.data(), SumG.numel(), T(1), L.stream());
      RowsA += F.RowsA, RowsG += F.RowsG;
    }
    for (size_t R = 0; R < Stages.size(); ++R) {
      DeviceFactors<T> &F = Factors(R, J);
      F.SumA.copyFrom(SumA, L.stream()), F.SumG.copyFrom(SumG, L.stream());
      F.RowsA = RowsA, F.RowsG = RowsG;
    }
  }
  L.sync();
}

template <typename T> void KfacTasks<T>::endStep() {
  for (size_t S = 0; S < Opts.size(); ++S) {
    if (!Opts[S])
      continue;
    for (size_t I = 0; I < States[S].size(); ++I) {
      Linear<T> &Lin = *Opts[S]->layer(I);
      States[S][I].PrevInputs = std::move(Lin.CurvatureInputs);
      States[S][I].PrevGrads = std::move(Lin.CurvatureGrads);
      Lin.CurvatureInputs.clear(), Lin.CurvatureGrads.clear();
    }
  }
  PrevScale = Scale;
}

template class KfacTasks<float>;
template class KfacTasks<double>;

} // namespace pfc::interp::cuda
