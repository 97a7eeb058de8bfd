//===- KfacTasks.h - the plan's K-FAC tasks run by the executor ------------===//
//
// What CURVATURE_A/B, FACTOR_ALL_REDUCE, INVERT_A/B and PRECONDITION do when
// the executor reaches them, for the stages whose optimizer is a
// plan-driven KfacOptimizer (block layers only: kfac-insert makes no tasks
// for the head).
//
// The refresh cycle: K = Report.cycle_steps steps; a cycle task runs only in
// the step whose phase equals its cycle_step. Curvature with data_lag 1 uses
// the tensors of the previous step: at the end of each step the layers'
// saved inputs and output gradients move into a "previous step" store that
// lives one step (step 0 has none: such tasks are no-ops). A curvature piece
// adds its share of the token rows. INVERT_A (resp. B) does its work on its
// last piece (earlier pieces are no-ops): it folds the factor's sums into the
// running average; the later of the pair computes both π-damped inverses,
// kept pending until the next cycle starts (inverses of the previous refresh
// precondition the steps of a cycle). FACTOR_ALL_REDUCE sums the replicas'
// raw sums and row counts (Chimera's two pipelines).
//
// Warm-up (optional, DESIGN.md): for the first W steps the cycle tasks are
// skipped and each stage's PRECONDITION refreshes every step from all its
// micro-batches, as KfacOptimizer does on its own; cycles count from W.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_KFACTASKS_H
#define PFC_BACKENDS_INTERP_KFACTASKS_H

#include "KfacOptimizer.h"
#include "Model.h"

#include "ir/Program.h"

#include <map>

namespace pfc::interp {

template <typename T> class KfacTasks {
public:
  KfacTasks(const Program &P, const std::vector<Model<T> *> &Replicas);

  /// Stage \p Stage is preconditioned by \p Opt (plan-driven), or by nothing.
  void setOptimizer(int32_t Stage, KfacOptimizer<T> *Opt);
  void setWarmup(int32_t Steps) { Warmup = Steps; }

  /// Before step \p Step (0-based) with loss scale \p Scale: the cycle phase;
  /// activates the pending inverses when a cycle starts.
  void beginStep(int64_t Step, T Scale);
  /// Whether cycle task \p Tk runs in this step.
  bool runs(const Task &Tk) const;
  /// Whether the edge \p Pred -> \p Tk was satisfied in an earlier step
  /// (curvature of lagged data after its forward/backward).
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const;

  void curvature(const Task &Tk);
  void invert(const Task &Tk);
  void precondition(const Task &Tk);
  /// Sums the factors of block \p Layer over the stages \p Stages.
  void sumFactors(int32_t Layer, const std::vector<int32_t> &Stages);
  /// Moves the step's saved tensors into the previous-step store.
  void endStep();

private:
  /// K-FAC layer indices of block \p Layer in stage \p Stage's optimizer.
  std::vector<size_t> layersOf(int32_t Stage, int32_t Layer) const;

  const Program &P;
  std::vector<Model<T> *> Replicas;
  std::vector<KfacOptimizer<T> *> Opts;
  /// Per stage and K-FAC layer: the previous step's saved tensors, and
  /// whether A / G were folded in this cycle.
  struct LayerState {
    MicrobatchStore<Tensor<T>> PrevInputs, PrevGrads;
    bool FoldedA = false, FoldedG = false;
  };
  std::vector<std::vector<LayerState>> States;
  /// Pieces of curvature (kind, stage, layer, mb) and of inversion (kind, stage, layer, -1).
  std::map<std::tuple<int32_t, int32_t, int32_t, int32_t>, int32_t> Pieces;
  int32_t Warmup = 0, CycleSteps = 1, Phase = 0;
  bool WarmupStep = false;
  T Scale = 1, PrevScale = 1;
};

extern template class KfacTasks<float>;
extern template class KfacTasks<double>;

} // namespace pfc::interp

#endif
