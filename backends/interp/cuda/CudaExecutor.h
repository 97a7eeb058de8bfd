//===- CudaExecutor.h - runs one training step of a plan on one GPU --------===//
//
// The CUDA backend of the plan walker (PlanWalker.h): the same host threads,
// one per plan device, walk the plan's streams; each plan device issues its
// tasks to its own lane (a CUDA stream with its cuBLAS and cuSOLVER handles,
// Lane.h) on the one GPU. A task is done for the walker once its work is
// queued: the runner records a CUDA event after it, and a task whose
// predecessor ran on another device first makes its stream wait for that
// event (cudaStreamWaitEvent), so dependencies hold on the GPU while each
// device's host thread queues ahead. The step ends with every lane
// synchronised; per-task times are the GPU times between a start and an end
// event around each task. setSyncEachTask(true) instead synchronises the
// lane after every task (the walker's order is then also the GPU's; for
// diagnosis). A SEND/RECV pair hands the activation's device buffer over
// without a copy (one GPU, one address space). ALL_REDUCE sums the
// replicas' gradients on the lane of the last member to arrive, in task id
// order, like the CPU, and records every member's end event there.
//
// Optimizers: SGD and AdamW on the GPU (CudaOptimizer.h), and K-FAC through
// the plan's tasks (CudaKfacTasks.h) for stages whose optimizer is a
// plan-driven cuda::KfacOptimizer; with any other optimizer the K-FAC tasks
// are no-ops, as on the CPU. The KL clip is across stages as on the CPU:
// once every lane has synchronised, each K-FAC stage's update is issued on
// the lane of the device of its OPTIMIZER_STEP with the one ν, and its wall
// time (to the lane's synchronisation) added to that task's time.
//
// Errors: any CUDA, cuBLAS or cuSOLVER failure (CudaCheck.h) fails the step
// with the failing call named, exit code ExitNoDevice. ZeRO plans (REDUCE_
// SCATTER / ALL_GATHER tasks, zero > 0) are refused by create() with a user
// error: only the CPU executor runs them (ZeroCollectives.h).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAEXECUTOR_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAEXECUTOR_H

#include "CudaKfacTasks.h"
#include "CudaModel.h"
#include "CudaOptimizer.h"

#include "backends/interp/Executor.h"
#include "backends/interp/PlanWalker.h"

namespace pfc::interp::cuda {

/// The recorded CUDA failure (CudaCheck.h) as an error, or success.
llvm::Error takeCudaError();
/// Fails with "no CUDA device found" (exit code ExitNoDevice) without a GPU.
llvm::Error requireDevice();

template <typename T> class Executor {
public:
  /// Checks the plan as the CPU executor does and creates one lane per
  /// plan device. \p P and the replicas must outlive the executor.
  static llvm::Expected<std::unique_ptr<Executor>> create(const Program &P,
                                                          std::vector<Model<T> *> Replicas);

  /// The optimizer OPTIMIZER_STEP of stage \p Stage calls (none: skipped).
  /// A plan-driven KfacOptimizer also gets the plan's K-FAC tasks.
  void setOptimizer(int32_t Stage, Optimizer<T> *Opt);
  /// Steps at the start that refresh K-FAC inverses every step.
  void setKfacWarmup(int32_t Steps) { Kfac->setWarmup(Steps); }
  /// One KL-clip factor over all stages (default) or one per stage.
  void setKfacClipAcrossStages(bool On) { Kfac->setClipAcrossStages(On); }
  /// Plan device \p Device's lane.
  Lane &lane(int32_t Device) { return *Lanes[static_cast<size_t>(Device)]; }
  /// Synchronise each task's lane when it ends instead of using events.
  void setSyncEachTask(bool On) { SyncEachTask = On; }

  /// One step on micro-batches \p Batches, as Executor.h's runStep.
  llvm::Expected<StepResult> runStep(std::span<const Batch> Batches);

private:
  Executor(const Program &P, std::vector<Model<T> *> Replicas);

  const Program *Prog;
  PlanWalker Walker;
  std::vector<Model<T> *> Replicas;
  std::vector<Optimizer<T> *> Optimizers; ///< per stage
  std::vector<std::unique_ptr<Lane>> Lanes; ///< per plan device
  std::vector<TaskId> StepTasks; ///< per stage: its OPTIMIZER_STEP task
  std::unique_ptr<KfacTasks<T>> Kfac;
  /// Per task: events recorded before and after its work.
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> Events;
  bool SyncEachTask = false;
  int64_t Steps = 0;

public:
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;
};

extern template class Executor<float>;
extern template class Executor<double>;

} // namespace pfc::interp::cuda

#endif
