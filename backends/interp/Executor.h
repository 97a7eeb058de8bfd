//===- Executor.h - runs one training step of a plan on the CPU ------------===//
//
// The CPU backend of the plan walker (PlanWalker.h: one thread per plan
// device, streams in the plan's order). Data moves only where the plan
// moves it: a forward's output reaches the next stage either directly (both
// stages on one device) or through the plan's SEND/RECV pair, whose send
// posts the tensor into a one-message channel that its receive takes it from.
// ALL_REDUCE tasks of replicated stages (Chimera's two pipelines) sum their
// gradients once every member has arrived; OPTIMIZER_STEP calls the stage's
// optimizer.
//
// K-FAC plans: the cycle tasks of the refresh cycle run in the step of their
// cycle_step, through KfacTasks (KfacTasks.h) for the stages whose optimizer
// is a plan-driven KfacOptimizer; with any other optimizer they are no-ops.
// Such a stage's OPTIMIZER_STEP computes its directions; its update waits
// until every device has finished the step, to use the one KL-clip factor ν
// of all stages (setKfacClipAcrossStages(false): each stage's own ν, at its
// OPTIMIZER_STEP); the update's time is added to its OPTIMIZER_STEP's.
//
// Data-parallel plans (data_parallel > 1) are run after expandDataParallel
// (DataParallel.h) makes their replicas explicit; create() rejects them
// unexpanded. ZeRO plans' REDUCE_SCATTER and ALL_GATHER tasks go to
// ZeroCollectives (ZeroCollectives.h, which also says the shard layout);
// setOptimizer shards each stage's optimizer to the stage's shard. A K-FAC
// plan with ZeRO runs plan-driven K-FAC optimizers sharded
// (KfacOptimizer.h); with the KL clip on, the reduce-scatters also sum the
// raw gradients, the shards step after the walk with the one ν, and the
// updated shards are gathered again.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_EXECUTOR_H
#define PFC_BACKENDS_INTERP_EXECUTOR_H

#include "ExecutorShared.h"
#include "KfacTasks.h"
#include "Model.h"
#include "Optimizer.h"
#include "PlanWalker.h"
#include "ZeroCollectives.h"

#include "ir/Program.h"

#include <span>

namespace pfc::interp {

template <typename T> class Executor {
public:
  /// Checks that \p P can be run on \p Replicas (one model per pipeline,
  /// built from the same config): supported task kinds, layer ranges within
  /// the model, one data-parallel replica, a ZeRO plan's collectives
  /// (analyzeZeroPlan). \p P and the replicas must outlive the executor.
  static llvm::Expected<Executor> create(const Program &P, std::vector<Model<T> *> Replicas);

  /// The optimizer OPTIMIZER_STEP of stage \p Stage calls (none: skipped),
  /// over the parameters of the stage's layers (Model::params order).
  /// A plan-driven KfacOptimizer also gets the plan's K-FAC tasks. In a ZeRO
  /// plan \p Opt is sharded to the stage's shard (Optimizer::shard; one that
  /// cannot be, or K-FAC with the KL clip on, makes runStep fail).
  void setOptimizer(int32_t Stage, Optimizer<T> *Opt);
  /// Steps at the start that refresh K-FAC inverses every step (KfacTasks.h).
  void setKfacWarmup(int32_t Steps) { Kfac->setWarmup(Steps); }
  /// One KL-clip factor over all stages (default) or one per stage.
  void setKfacClipAcrossStages(bool On) { Kfac->setClipAcrossStages(On); }

  /// One step: zeroes every replica's gradients, then runs every device's
  /// streams on micro-batches \p Batches (indexed by micro-batch id). The
  /// loss is the mean over all tokens of the step, so the gradients equal
  /// those of one batch holding every micro-batch (in a ZeRO plan: each
  /// copy's shard of them; the rest is NaN). Every replica holds whole,
  /// updated parameters afterwards.
  llvm::Expected<StepResult> runStep(std::span<const Batch> Batches);

private:
  Executor(const Program &P, std::vector<Model<T> *> Replicas, ZeroPlan Z);

  const Program *Prog;
  std::unique_ptr<PlanWalker> Walker;
  std::vector<Model<T> *> Replicas;
  std::vector<Optimizer<T> *> Optimizers; ///< per stage
  std::unique_ptr<KfacTasks<T>> Kfac;
  std::vector<TaskId> StepTasks; ///< per stage: its OPTIMIZER_STEP task
  std::unique_ptr<ZeroCollectives<T>> Zero;
  std::string UnshardedOptimizer; ///< why setOptimizer failed under ZeRO
  int64_t Steps = 0;
};

extern template class Executor<float>;
extern template class Executor<double>;

} // namespace pfc::interp

#endif
