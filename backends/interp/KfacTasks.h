//===- KfacTasks.h - the plan's K-FAC tasks run by the executor ------------===//
//
// What CURVATURE_A/B, FACTOR_ALL_REDUCE, INVERT_A/B, PRECONDITION and (for
// K-FAC stages) OPTIMIZER_STEP do when the executor reaches them, for the
// stages whose optimizer is a plan-driven KfacOptimizer (block layers only:
// kfac-insert makes no tasks for the head).
//
// The refresh cycle: K = Report.cycle_steps steps; a cycle task runs only in
// the step whose phase equals its cycle_step. Curvature with data_lag 1 uses
// the tensors of the previous step: at the end of each step the layers'
// saved inputs and output gradients move into a "previous step" store that
// lives one step (step 0 has none: such tasks are no-ops). A curvature piece
// adds its share of the token rows, for each block it covers (layer_count).
// INVERT_A (resp. B) does its work on its last piece (earlier pieces are
// no-ops): it folds the factor's sums into the running average; the later of
// the pair computes both π-damped inverses, kept pending until the next cycle
// starts (inverses of the previous refresh precondition the steps of a
// cycle). FACTOR_ALL_REDUCE sums the replicas' raw sums and row counts
// (Chimera's two pipelines).
//
// Warm-up (optional, DESIGN.md): for the first W steps the cycle tasks are
// skipped and each stage's PRECONDITION refreshes every step from all its
// micro-batches, as KfacOptimizer does on its own; cycles count from W. A
// stage with copies (data-parallel replicas, Chimera's second pipeline)
// must refresh from the copies' summed factors, as FACTOR_ALL_REDUCE gives
// them in a cycle, or the copies would precondition the one all-reduced
// gradient differently and drift apart: with the clip across stages, its
// PRECONDITION only accumulates the step's curvature and finishWarmup, once
// the walk has joined every device, sums the copies' factors and refreshes
// and prepares each before applyDeferred. (Under ZeRO, whose PRECONDITION
// must leave directions for the reduce-scatter, each copy refreshes from
// its own micro-batches: the reduce-scatter sums their directions, so the
// copies stay equal, but the step is not the one-device step.)
//
// KL clip across stages (default; setClipAcrossStages(false) gives each
// stage's optimizer its own ν): a K-FAC stage's OPTIMIZER_STEP only computes
// its directions Δ (unless PRECONDITION did) and their Σ⟨Δ, V⟩; once the
// walk has joined every device, applyDeferred computes one
// ν = min(1, sqrt(κ / (η² Σ⟨Δ, V⟩))) with the sum over all stages (divided
// by the number of pipelines, so each layer counts once under Chimera's
// replicas) and updates every deferred stage with it, in stage order.
//
// ZeRO (a stage set Sharded, KfacOptimizer::shard): PRECONDITION, which the
// plan puts before the stage's REDUCE_SCATTER, leaves the directions in the
// gradients for the reduce-scatter to sum. Without the clip the
// OPTIMIZER_STEP updates the stage's shard at once (ν = 1). With it, the
// reduce-scatter also sums the raw gradients (ZeroCollectives.h), the
// OPTIMIZER_STEP takes its shard's part of Σ⟨Δ, V⟩ and defers the update,
// and applyDeferred adds the parts of every shard (each layer counts once:
// the copies' shards partition it) into the one ν, whatever
// setClipAcrossStages says; the executor then gathers the updated shards.
//
// One template for both backends: ModelT and OptT are the backend's model
// and K-FAC optimizer; the backend's work (accumulateA, pieceRows,
// sumReplicaFactors, the optimizer's calls) takes the extra arguments Ctx
// given to each call: none on the CPU, the device's lane on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_KFACTASKS_H
#define PFC_BACKENDS_INTERP_KFACTASKS_H

#include "KfacOptimizer.h"
#include "Model.h"

#include "ir/Program.h"

#include <algorithm>
#include <map>
#include <type_traits>

namespace pfc::interp {

template <typename T, typename ModelT, typename OptT> class BasicKfacTasks {
  using LinearT = std::remove_pointer_t<decltype(std::declval<OptT &>().layer(0))>;
  using StoreT = std::remove_cvref_t<decltype(std::declval<LinearT &>().CurvatureInputs)>;

public:
  BasicKfacTasks(const Program &P, const std::vector<ModelT *> &Replicas)
      : P(P), Replicas(Replicas), Opts(P.Stages.size(), nullptr), States(P.Stages.size()),
        Deferred(P.Stages.size(), 0), Sharded(P.Stages.size(), 0),
        WarmupDeferred(P.Stages.size(), 0), Copies(P.Stages.size()),
        CycleSteps(std::max(1, P.Time.CycleSteps)) {
    // Copies of a stage: the stages over its layers, ascending.
    for (size_t S = 0; S < P.Stages.size(); ++S)
      for (size_t R = 0; R < P.Stages.size(); ++R)
        if (P.Stages[R].LayerBegin == P.Stages[S].LayerBegin &&
            P.Stages[R].LayerEnd == P.Stages[S].LayerEnd)
          Copies[S].push_back(static_cast<int32_t>(R));
    for (const Task &Tk : P.Tasks)
      if (isCycleTask(Tk.Kind) && Tk.Kind != proto::FACTOR_ALL_REDUCE) {
        int32_t &N = Pieces[{static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, Tk.Microbatch}];
        N = std::max(N, Tk.Piece + 1);
      }
  }

  /// Stage \p Stage is preconditioned by \p Opt (plan-driven), or by nothing;
  /// \p IsSharded: \p Opt updates a ZeRO shard (see above).
  void setOptimizer(int32_t Stage, OptT *Opt, bool IsSharded = false) {
    Opts[static_cast<size_t>(Stage)] = Opt;
    Sharded[static_cast<size_t>(Stage)] = Opt && IsSharded;
    States[static_cast<size_t>(Stage)] = std::vector<LayerState>(Opt ? Opt->numLayers() : 0);
  }
  void setWarmup(int32_t Steps) { Warmup = Steps; }
  /// One ν over all stages (true, the default) or one per stage optimizer.
  void setClipAcrossStages(bool On) { AcrossStages = On; }

  /// Before step \p Step (0-based) with loss scale \p Scale: the cycle phase;
  /// activates the pending inverses when a cycle starts.
  void beginStep(int64_t Step, T StepScale) {
    std::fill(Deferred.begin(), Deferred.end(), 0); // left by a failed step
    std::fill(WarmupDeferred.begin(), WarmupDeferred.end(), 0);
    Scale = StepScale;
    WarmupStep = Step < Warmup;
    if (WarmupStep)
      return;
    Phase = static_cast<int32_t>((Step - Warmup) % CycleSteps);
    if (Phase == 0)
      for (OptT *Opt : Opts)
        if (Opt)
          Opt->activatePending();
  }
  /// Whether cycle task \p Tk runs in this step.
  /// Layer -1: a block the scaled model dropped (PlanScale), never run.
  bool runs(const Task &Tk) const {
    return Tk.Layer >= 0 && !WarmupStep && Tk.CycleStep == Phase;
  }
  /// Whether the edge \p Pred -> \p Tk was satisfied in an earlier step
  /// (curvature of lagged data after its forward/backward).
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const {
    return Tk.DataLag > 0 && (Pred.Kind == proto::FORWARD || Pred.Kind == proto::BACKWARD);
  }

  template <typename... Ctx> void curvature(const Task &Tk, Ctx &...C) {
    OptT *Opt = Opts[static_cast<size_t>(Tk.Stage)];
    if (!Opt)
      return;
    const bool IsA = Tk.Kind == proto::CURVATURE_A;
    const int32_t N = Pieces.at({static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, Tk.Microbatch});
    for (size_t I : layersOf(Tk.Stage, Tk.Layer, Tk.LayerCount)) {
      LayerState &S = States[static_cast<size_t>(Tk.Stage)][I];
      LinearT &L = *Opt->layer(I);
      const StoreT &Store = Tk.DataLag > 0 ? (IsA ? S.PrevInputs : S.PrevGrads)
                                           : (IsA ? L.CurvatureInputs : L.CurvatureGrads);
      if (!Store.contains(Tk.Microbatch))
        continue; // lagged data before the first step
      auto Rows = pieceRows(C..., Store.get(Tk.Microbatch), Tk.Piece, N);
      if (IsA)
        accumulateA(C..., Opt->mutableFactors(I), Rows);
      else
        accumulateG(C..., Opt->mutableFactors(I), Rows, Tk.DataLag > 0 ? PrevScale : Scale);
    }
  }

  template <typename... Ctx> void invert(const Task &Tk, Ctx &...C) {
    OptT *Opt = Opts[static_cast<size_t>(Tk.Stage)];
    if (!Opt || Tk.Piece + 1 < Pieces.at({static_cast<int32_t>(Tk.Kind), Tk.Stage, Tk.Layer, -1}))
      return; // earlier pieces of a split inversion: no-ops here
    const bool IsA = Tk.Kind == proto::INVERT_A;
    const double Decay = Opt->options().Decay;
    for (size_t I : layersOf(Tk.Stage, Tk.Layer)) {
      LayerState &S = States[static_cast<size_t>(Tk.Stage)][I];
      auto &F = Opt->mutableFactors(I);
      if (IsA)
        updateAverageA(C..., F, Decay), S.FoldedA = true;
      else
        updateAverageG(C..., F, Decay), S.FoldedG = true;
      if (S.FoldedA && S.FoldedG) {
        Opt->invertPending(C..., I);
        S.FoldedA = S.FoldedG = false;
      }
    }
  }

  template <typename... Ctx> void precondition(const Task &Tk, Ctx &...C) {
    OptT *Opt = Opts[static_cast<size_t>(Tk.Stage)];
    if (!Opt)
      return;
    const size_t S = static_cast<size_t>(Tk.Stage);
    if (WarmupStep) {
      Opt->curvatureAll(C..., Scale);
      if (Copies[S].size() > 1 && AcrossStages && !Sharded[S]) {
        WarmupDeferred[S] = 1; // refreshed from the copies' sum by finishWarmup
        return;
      }
      Opt->refreshAll(C...);
    }
    Opt->prepare(C...);
  }

  /// After the walk, before applyDeferred: each group of copies whose
  /// warm-up refresh waits sums its factors, then every copy refreshes and
  /// computes its directions. \p With(Stage, Body) calls Body with the
  /// backend's context for that stage (none on the CPU, a lane on the GPU).
  template <typename WithFn> void finishWarmup(WithFn &&With) {
    for (size_t S = 0; S < WarmupDeferred.size(); ++S) {
      if (!WarmupDeferred[S] || static_cast<size_t>(Copies[S].front()) != S)
        continue; // not waiting, or not the group's first copy
      const Stage &St = P.Stages[S];
      const int32_t First = std::max(1, St.LayerBegin);
      const int32_t Count = std::min(P.Model.num_layers() + 1, St.LayerEnd) - First;
      std::vector<int32_t> Group; // the copies K-FAC preconditions
      for (int32_t R : Copies[S])
        if (Opts[static_cast<size_t>(R)])
          Group.push_back(R);
      With(static_cast<int32_t>(S), [&](auto &...C) {
        if (Count > 0)
          sumFactors(First, Count, Group, C...);
        for (int32_t R : Group) {
          Opts[static_cast<size_t>(R)]->refreshAll(C...);
          Opts[static_cast<size_t>(R)]->prepare(C...);
          WarmupDeferred[static_cast<size_t>(R)] = 0;
        }
      });
    }
  }

  /// OPTIMIZER_STEP of stage \p Tk.Stage with the clip across stages: makes
  /// sure its directions are computed and defers its update; sharded with
  /// the clip on: takes its shard's part of Σ⟨Δ, V⟩ and defers. False
  /// (nothing done) for a stage without K-FAC, with per-stage clipping, or
  /// sharded without the clip.
  template <typename... Ctx> bool deferStep(const Task &Tk, Ctx &...C) {
    OptT *Opt = Opts[static_cast<size_t>(Tk.Stage)];
    if (!Opt)
      return false;
    if (Sharded[static_cast<size_t>(Tk.Stage)]) {
      if constexpr (requires { Opt->shardDeltaDotV(C...); }) {
        if (Opt->clipGradient() == nullptr)
          return false;
        Opt->shardDeltaDotV(C...);
        Deferred[static_cast<size_t>(Tk.Stage)] = 1;
        return true;
      }
      return false;
    }
    if (!AcrossStages)
      return false;
    if (!Opt->prepared() && !WarmupDeferred[static_cast<size_t>(Tk.Stage)])
      Opt->prepare(C...);
    Deferred[static_cast<size_t>(Tk.Stage)] = 1;
    return true;
  }
  /// After the walk: the one ν of the deferred stages, then
  /// \p Apply(Opt, Stage, ν) for each of them in stage order. Whether any
  /// of them was sharded (its copies' parameters need gathering again).
  template <typename Fn> bool applyDeferred(Fn &&Apply) {
    double Whole = 0, Shards = 0;
    int32_t Pipelines = 0;
    bool AnySharded = false;
    const OptT *First = nullptr;
    for (size_t S = 0; S < Deferred.size(); ++S)
      if (Deferred[S]) {
        // A whole stage's sum counts once per pipeline; shards partition it.
        (Sharded[S] ? Shards : Whole) += Opts[S]->deltaDotV();
        AnySharded |= Sharded[S] != 0;
        Pipelines = std::max(Pipelines, P.Stages[S].Pipeline + 1);
        First = First ? First : Opts[S];
      }
    if (!First)
      return false;
    const double Nu =
        klClipFactor(Whole / Pipelines + Shards, First->options().Sgd.Lr, First->options().KlClip);
    for (size_t S = 0; S < Deferred.size(); ++S)
      if (Deferred[S]) {
        Apply(*Opts[S], static_cast<int32_t>(S), Nu);
        Deferred[S] = 0;
      }
    return AnySharded;
  }

  /// Sums the factors of blocks [\p Layer, \p Layer + \p Count) over the
  /// stages \p Stages.
  template <typename... Ctx>
  void sumFactors(int32_t Layer, int32_t Count, const std::vector<int32_t> &Stages, Ctx &...C) {
    std::vector<std::vector<size_t>> Idx;
    for (int32_t S : Stages)
      Idx.push_back(layersOf(S, Layer, Count));
    for (size_t J = 0; J < Idx[0].size(); ++J) {
      std::vector<std::remove_reference_t<decltype(Opts[0]->mutableFactors(0))> *> Members;
      for (size_t R = 0; R < Stages.size(); ++R)
        Members.push_back(&Opts[static_cast<size_t>(Stages[R])]->mutableFactors(Idx[R][J]));
      sumReplicaFactors(C..., Members);
    }
  }

  /// Moves the step's saved tensors into the previous-step store.
  void endStep() {
    for (size_t S = 0; S < Opts.size(); ++S) {
      if (!Opts[S])
        continue;
      for (size_t I = 0; I < States[S].size(); ++I) {
        LinearT &L = *Opts[S]->layer(I);
        States[S][I].PrevInputs = std::move(L.CurvatureInputs);
        States[S][I].PrevGrads = std::move(L.CurvatureGrads);
        L.CurvatureInputs.clear(), L.CurvatureGrads.clear();
      }
    }
    PrevScale = Scale;
  }

private:
  /// K-FAC layer indices of blocks [\p Layer, \p Layer + \p Count) in stage
  /// \p Stage's optimizer.
  std::vector<size_t> layersOf(int32_t Stage, int32_t Layer, int32_t Count = 1) const {
    std::vector<size_t> Out;
    OptT *Opt = Opts[static_cast<size_t>(Stage)];
    if (!Opt)
      return Out;
    ModelT &M = *Replicas[static_cast<size_t>(P.Stages[Stage].Pipeline)];
    for (LinearT *L : M.linears(Layer, Layer + Count))
      if (int64_t I = Opt->indexOf(L); I >= 0)
        Out.push_back(static_cast<size_t>(I));
    return Out;
  }

  const Program &P;
  std::vector<ModelT *> Replicas;
  std::vector<OptT *> Opts;
  /// Per stage and K-FAC layer: the previous step's saved tensors, and
  /// whether A / G were folded in this cycle.
  struct LayerState {
    StoreT PrevInputs, PrevGrads;
    bool FoldedA = false, FoldedG = false;
  };
  std::vector<std::vector<LayerState>> States;
  /// Per stage: its update waits for applyDeferred (one writer per stage).
  std::vector<char> Deferred;
  /// Per stage: its optimizer updates a ZeRO shard.
  std::vector<char> Sharded;
  /// Per stage: its warm-up refresh waits for finishWarmup.
  std::vector<char> WarmupDeferred;
  /// Per stage: the stages over its layers (itself included), ascending.
  std::vector<std::vector<int32_t>> Copies;
  /// Pieces of curvature (kind, stage, layer, mb) and of inversion (kind, stage, layer, -1).
  std::map<std::tuple<int32_t, int32_t, int32_t, int32_t>, int32_t> Pieces;
  int32_t Warmup = 0, CycleSteps = 1, Phase = 0;
  bool WarmupStep = false, AcrossStages = true;
  T Scale = 1, PrevScale = 1;
};

/// The CPU backend's K-FAC tasks.
template <typename T> using KfacTasks = BasicKfacTasks<T, Model<T>, KfacOptimizer<T>>;

extern template class BasicKfacTasks<float, Model<float>, KfacOptimizer<float>>;
extern template class BasicKfacTasks<double, Model<double>, KfacOptimizer<double>>;

} // namespace pfc::interp

#endif
