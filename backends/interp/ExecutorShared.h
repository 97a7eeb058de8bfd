//===- ExecutorShared.h - what the CPU and CUDA executors share ------------===//
//
// The step result, the plan checks of create() and the batch checks, loss
// scale and loss of runStep, for the CPU executor (Executor.h) and the CUDA
// executor (cuda/CudaExecutor.h) alike.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_EXECUTORSHARED_H
#define PFC_BACKENDS_INTERP_EXECUTORSHARED_H

#include "Model.h"
#include "PlanWalker.h"

#include "ir/Program.h"

#include <span>

namespace pfc::interp {

struct StepResult {
  /// Mean loss over the step's tokens, and each micro-batch's mean loss.
  double Loss = 0;
  std::vector<double> MicrobatchLoss;
  /// Wall time of every task in ms (-1: not run this step), and of the step.
  std::vector<double> TaskMs;
  double StepMs = 0;
};

/// create()'s checks (PlanWalker::checkRunnable) of \p P against replicas of
/// \p ReplicaLayers blocks each, on backend \p Backend ("CPU", "CUDA").
llvm::Error checkExecutable(const Program &P, std::span<const int32_t> ReplicaLayers,
                            std::string_view Backend);
template <typename ModelT>
llvm::Error checkExecutable(const Program &P, const std::vector<ModelT *> &Replicas,
                            std::string_view Backend) {
  std::vector<int32_t> Layers;
  for (const ModelT *M : Replicas)
    Layers.push_back(M->config().Layers);
  return checkExecutable(P, Layers, Backend);
}

/// Per stage of \p P: its OPTIMIZER_STEP task, or NoTask.
std::vector<TaskId> optimizerStepTasks(const Program &P);

/// runStep's check that \p Batches holds every micro-batch \p P runs.
llvm::Error checkBatches(const Program &P, std::span<const Batch> Batches);

/// 1 / (token rows of the step): the backward scale that makes the loss the
/// mean over all tokens of the step, whatever the micro-batch split.
template <typename T> T stepLossScale(std::span<const Batch> Batches) {
  int64_t Rows = 0;
  for (const Batch &B : Batches)
    Rows += static_cast<int64_t>(B.Tokens.size());
  return T(1) / static_cast<T>(Rows);
}

/// The step's loss from each micro-batch's mean loss \p MicrobatchLoss.
StepResult stepLoss(std::vector<double> MicrobatchLoss, std::span<const Batch> Batches,
                    double LossScale);

} // namespace pfc::interp

#endif
