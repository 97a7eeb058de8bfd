//===- ExecutorShared.cpp - what the CPU and CUDA executors share ----------===//
#include "ExecutorShared.h"

#include "ir/Diagnostics.h"

namespace pfc::interp {

llvm::Error checkExecutable(const Program &P, std::span<const int32_t> ReplicaLayers,
                            std::string_view Backend) {
  int32_t Layers = P.Model.num_layers(); // the first replica that differs, if any
  for (int32_t L : ReplicaLayers)
    if (L != Layers) {
      Layers = L;
      break;
    }
  return PlanWalker::checkRunnable(P, ReplicaLayers.size(), Layers, Backend);
}

std::vector<TaskId> optimizerStepTasks(const Program &P) {
  std::vector<TaskId> Out(P.Stages.size(), NoTask);
  for (TaskId Id = 0; Id < P.numTasks(); ++Id)
    if (P.Tasks[Id].Kind == proto::OPTIMIZER_STEP)
      Out[static_cast<size_t>(P.Tasks[Id].Stage)] = Id;
  return Out;
}

llvm::Error checkBatches(const Program &P, std::span<const Batch> Batches) {
  for (const Task &Tk : P.Tasks)
    if (Tk.Microbatch >= static_cast<int32_t>(Batches.size()))
      return userError("pfc-run: error: the plan runs micro-batch {}, {} were given", Tk.Microbatch,
                       Batches.size());
  return llvm::Error::success();
}

StepResult stepLoss(std::vector<double> MicrobatchLoss, std::span<const Batch> Batches,
                    double LossScale) {
  StepResult R;
  R.MicrobatchLoss = std::move(MicrobatchLoss);
  for (size_t I = 0; I < R.MicrobatchLoss.size(); ++I)
    R.Loss += R.MicrobatchLoss[I] * static_cast<double>(Batches[I].Tokens.size()) * LossScale;
  return R;
}

} // namespace pfc::interp
