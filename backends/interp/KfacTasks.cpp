//===- KfacTasks.cpp - the plan's K-FAC tasks run by the executor ----------===//
//
// Threads: each task touches only its own stage's optimizer and layers (one
// device runs a stage, one task at a time), except sumFactors, which the
// executor calls once every member of the all-reduce has arrived (their
// curvature is complete and nothing else of theirs touches the sums).
//
//===----------------------------------------------------------------------===//
#include "KfacTasks.h"

namespace pfc::interp {
namespace {

/// Rows [Piece·R/Pieces, (Piece+1)·R/Pieces) of \p X as a matrix.
template <typename T> Tensor<T> pieceRows(const Tensor<T> &X, int32_t Piece, int32_t Pieces) {
  if (Pieces <= 1)
    return X;
  const int64_t R = X.rows(), C = X.cols();
  const int64_t Begin = R * Piece / Pieces, End = R * (Piece + 1) / Pieces;
  Tensor<T> Out = Tensor<T>::matrix(End - Begin, C);
  std::copy(X.data() + Begin * C, X.data() + End * C, Out.data());
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
  States[static_cast<size_t>(Stage)] =
      std::vector<LayerState>(Opt ? Opt->numLayers() : 0);
}

template <typename T>
std::vector<size_t> KfacTasks<T>::layersOf(int32_t Stage, int32_t Layer) const {
  std::vector<size_t> Out;
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Stage)];
  if (!Opt)
    return Out;
  Model<T> &M = *Replicas[static_cast<size_t>(P.Stages[Stage].Pipeline)];
  for (Linear<T> *L : M.linears(Layer, Layer + 1))
    if (int64_t I = Opt->indexOf(L); I >= 0)
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

template <typename T> void KfacTasks<T>::curvature(const Task &Tk) {
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Tk.Stage)];
  if (!Opt)
    return;
  const bool IsA = Tk.Kind == proto::CURVATURE_A;
  const int32_t N = Pieces.at({static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, Tk.Microbatch});
  for (size_t I : layersOf(Tk.Stage, Tk.Layer)) {
    LayerState &S = States[static_cast<size_t>(Tk.Stage)][I];
    Linear<T> &L = *Opt->layer(I);
    const auto &Store = Tk.DataLag > 0 ? (IsA ? S.PrevInputs : S.PrevGrads)
                                       : (IsA ? L.CurvatureInputs : L.CurvatureGrads);
    if (!Store.contains(Tk.Microbatch))
      continue; // lagged data before the first step
    Tensor<T> Rows = pieceRows(Store.get(Tk.Microbatch), Tk.Piece, N);
    if (IsA)
      accumulateA(Opt->mutableFactors(I), Rows);
    else
      accumulateG(Opt->mutableFactors(I), Rows, Tk.DataLag > 0 ? PrevScale : Scale);
  }
}

template <typename T> void KfacTasks<T>::invert(const Task &Tk) {
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Tk.Stage)];
  if (!Opt || Tk.Piece + 1 < Pieces.at({static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, -1}))
    return; // earlier pieces of a split inversion: no-ops here
  const bool IsA = Tk.Kind == proto::INVERT_A;
  const double Decay = Opt->options().Decay;
  for (size_t I : layersOf(Tk.Stage, Tk.Layer)) {
    LayerState &S = States[static_cast<size_t>(Tk.Stage)][I];
    KfacFactors<T> &F = Opt->mutableFactors(I);
    if (IsA)
      updateAverageA(F, Decay), S.FoldedA = true;
    else
      updateAverageG(F, Decay), S.FoldedG = true;
    if (S.FoldedA && S.FoldedG) {
      Opt->invertPending(I);
      S.FoldedA = S.FoldedG = false;
    }
  }
}

template <typename T> void KfacTasks<T>::precondition(const Task &Tk) {
  KfacOptimizer<T> *Opt = Opts[static_cast<size_t>(Tk.Stage)];
  if (!Opt)
    return;
  if (WarmupStep) {
    Opt->curvatureAll(Scale);
    Opt->refreshAll();
  }
  Opt->prepare();
}

template <typename T>
void KfacTasks<T>::sumFactors(int32_t Layer, const std::vector<int32_t> &Stages) {
  std::vector<std::vector<size_t>> Idx;
  for (int32_t S : Stages)
    Idx.push_back(layersOf(S, Layer));
  for (size_t J = 0; J < Idx[0].size(); ++J) {
    KfacFactors<T> &First = Opts[static_cast<size_t>(Stages[0])]->mutableFactors(Idx[0][J]);
    KfacFactors<T> Sum = First;
    for (size_t R = 1; R < Stages.size(); ++R) {
      const KfacFactors<T> &F = Opts[static_cast<size_t>(Stages[R])]->mutableFactors(Idx[R][J]);
      addScaled(Sum.SumA, F.SumA), addScaled(Sum.SumG, F.SumG);
      Sum.RowsA += F.RowsA, Sum.RowsG += F.RowsG;
    }
    for (size_t R = 0; R < Stages.size(); ++R) {
      KfacFactors<T> &F = Opts[static_cast<size_t>(Stages[R])]->mutableFactors(Idx[R][J]);
      F.SumA = Sum.SumA, F.SumG = Sum.SumG, F.RowsA = Sum.RowsA, F.RowsG = Sum.RowsG;
    }
  }
}

template <typename T> void KfacTasks<T>::endStep() {
  for (size_t S = 0; S < Opts.size(); ++S) {
    if (!Opts[S])
      continue;
    for (size_t I = 0; I < States[S].size(); ++I) {
      Linear<T> &L = *Opts[S]->layer(I);
      States[S][I].PrevInputs = std::move(L.CurvatureInputs);
      States[S][I].PrevGrads = std::move(L.CurvatureGrads);
      L.CurvatureInputs.clear(), L.CurvatureGrads.clear();
    }
  }
  PrevScale = Scale;
}

template class KfacTasks<float>;
template class KfacTasks<double>;

} // namespace pfc::interp
