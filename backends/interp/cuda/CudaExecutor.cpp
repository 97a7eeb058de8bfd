//===- CudaExecutor.cpp - runs one training step of a plan on one GPU ------===//
//
// The CUDA TaskRunner: StepRunner.h's dispatch with device tensors (moved
// from producer to consumer exactly as the CPU runner moves host tensors),
// each task issued on its device's lane; begin() and end() around every
// task place the events (CudaExecutor.h).
//
//===----------------------------------------------------------------------===//
#include "CudaExecutor.h"

#include "Kernels.h"

#include "backends/interp/StepRunner.h"

#include "ir/Diagnostics.h"

#include <algorithm>
#include <chrono>

namespace pfc::interp::cuda {

llvm::Error takeCudaError() {
  std::string F = takeFailure();
  if (F.empty())
    return llvm::Error::success();
  return llvm::make_error<UserError>("pfc-run: error: CUDA: " + F, ExitNoDevice);
}

llvm::Error requireDevice() {
  std::string Why;
  if (deviceCount(&Why) > 0)
    return llvm::Error::success();
  return llvm::make_error<UserError>(
      "pfc-run: error: --backend cuda is unavailable: " + Why + " (use --backend cpu)",
      ExitNoDevice);
}

/// StepRunner.h's forwardStage and sumReplicaGrads on lane \p L.
template <typename T>
DeviceTensor<T> forwardStage(Lane &L, Model<T> &M, const Stage &St, int32_t Mb, const Batch &Data,
                             const DeviceTensor<T> &In, double &Loss) {
  return M.forward(L, St.LayerBegin, St.LayerEnd, Mb, Data, In, &Loss);
}

template <typename T>
void sumReplicaGrads(Lane &L, const std::vector<DeviceParamList<T>> &Lists) {
  for (size_t I = 0; I < Lists[0].size(); ++I) {
    DeviceTensor<T> Sum = Lists[0][I]->Grad.clone(L.stream());
    for (size_t R = 1; R < Lists.size(); ++R)
      axpy(Sum.data(), Lists[R][I]->Grad.data(), Sum.numel(), T(1), L.stream());
    for (auto &List : Lists)
      List[I]->Grad.copyFrom(Sum, L.stream());
  }
}

namespace {

thread_local int32_t CurrentDevice = 0;

template <typename T> class CudaRunner : public TaskRunner {
public:
  CudaRunner(const PlanWalker &W, const std::vector<Model<T> *> &Replicas,
             const std::vector<Optimizer<T> *> &Optimizers,
             std::vector<std::unique_ptr<Lane>> &Lanes, KfacTasks<T> &Kfac,
             const std::vector<std::pair<cudaEvent_t, cudaEvent_t>> &Events, bool SyncEachTask,
             std::span<const Batch> Batches, T LossScale)
      : W(W), P(W.program()), Step(W, Replicas, Optimizers, Kfac, Batches, LossScale),
        Lanes(Lanes), Events(Events), SyncEachTask(SyncEachTask), RanOn(P.Tasks.size(), -1) {}

  /// Whether task \p Id's start and end events were recorded this step.
  bool timed(TaskId Id) const { return RanOn[static_cast<size_t>(Id)] >= 0; }

  llvm::Error startDevice(int32_t Device) override {
    CurrentDevice = Device;
    PFC_CUDA_CHECK(cudaSetDevice(0));
    return takeCudaError();
  }
  bool skipped(const Task &Tk) const override { return Step.skipped(Tk); }
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const override {
    return Step.satisfiedEarlier(Tk, Pred);
  }
  StepResult result() const { return Step.result(); }

  llvm::Error run(TaskId Id) override {
    const Task &Tk = P.Tasks[Id];
    Lane &L = *Lanes[static_cast<size_t>(Tk.Device)];
    begin(L, Tk.Device, Id);
    Step.run(Id, L);
    end(L, Tk.Device, Id);
    return takeCudaError();
  }

  /// Sums the members' gradients (or K-FAC factor sums) in task id order on
  /// this thread's lane, after waiting for every member's predecessors.
  llvm::Error reduce(std::span<const TaskId> Members) override {
    Lane &L = *Lanes[static_cast<size_t>(CurrentDevice)];
    for (TaskId Member : Members)
      begin(L, CurrentDevice, Member);
    Step.reduce(Members, L);
    for (TaskId Member : Members)
      end(L, CurrentDevice, Member);
    return takeCudaError();
  }

private:
  /// Before task \p Id's work on lane \p L (plan device \p LaneDevice's):
  /// makes \p L wait for every predecessor whose work this step went to
  /// another lane (the walker ended it first, so its end event is recorded
  /// and RanOn is set; an all-reduce member's work is on the lane that
  /// reduced). Edges satisfied in an earlier step need no wait: every step
  /// ends with all lanes synchronised. Then records \p Id's start event.
  void begin(Lane &L, int32_t LaneDevice, TaskId Id) {
    const Task &Tk = P.Tasks[Id];
    if (!SyncEachTask)
      for (TaskId Pred : W.preds().of(Id)) {
        if (Step.satisfiedEarlier(Tk, P.Tasks[Pred]))
          continue;
        const int32_t On = RanOn[static_cast<size_t>(Pred)];
        if (On >= 0 && On != LaneDevice)
          PFC_CUDA_CHECK(cudaStreamWaitEvent(L.stream(), Events[Pred].second, 0));
      }
    PFC_CUDA_CHECK(cudaEventRecord(Events[Id].first, L.stream()));
  }

  /// After task \p Id's work: its end event, and where it ran.
  void end(Lane &L, int32_t LaneDevice, TaskId Id) {
    PFC_CUDA_CHECK(cudaEventRecord(Events[Id].second, L.stream()));
    RanOn[static_cast<size_t>(Id)] = LaneDevice;
    if (SyncEachTask)
      L.sync();
  }

  const PlanWalker &W;
  const Program &P;
  StepRunner<T, Model<T>, Optimizer<T>, KfacTasks<T>, DeviceTensor<T>> Step;
  std::vector<std::unique_ptr<Lane>> &Lanes;
  const std::vector<std::pair<cudaEvent_t, cudaEvent_t>> &Events;
  bool SyncEachTask;
  /// Per task: the plan device whose lane ran it this step, or -1. Written
  /// before the walker ends the task, read only by tasks it orders after.
  std::vector<int32_t> RanOn;
};

} // namespace

template <typename T>
Executor<T>::Executor(const Program &P, std::vector<Model<T> *> Rs)
    : Prog(&P), Walker(P), Replicas(std::move(Rs)), Optimizers(P.Stages.size(), nullptr),
      Kfac(std::make_unique<KfacTasks<T>>(P, Replicas)) {}

template <typename T> void Executor<T>::setOptimizer(int32_t Stage, Optimizer<T> *Opt) {
  Optimizers[static_cast<size_t>(Stage)] = Opt;
  auto *K = dynamic_cast<KfacOptimizer<T> *>(Opt);
  Kfac->setOptimizer(Stage, K && K->options().PlanDriven ? K : nullptr);
}

template <typename T>
llvm::Expected<std::unique_ptr<Executor<T>>>
Executor<T>::create(const Program &P, std::vector<Model<T> *> Replicas) {
  if (llvm::Error E = checkExecutable(P, Replicas, "CUDA"))
    return E;
  const bool Zero = std::any_of(P.Tasks.begin(), P.Tasks.end(), [](const Task &Tk) {
    return Tk.Kind == proto::REDUCE_SCATTER || Tk.Kind == proto::ALL_GATHER;
  });
  if (Zero || P.Options.zero() > 0)
    return userError("pfc-run: error: the CUDA backend does not run ZeRO plans (this plan has "
                     "ZeRO stage {}); run it with --backend cpu, or compile it with --zero 0",
                     P.Options.zero());
  if (llvm::Error E = requireDevice())
    return E;
  std::unique_ptr<Executor> X(new Executor(P, std::move(Replicas)));
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    X->Lanes.push_back(Lane::create());
    if (!X->Lanes.back())
      break;
  }
  X->StepTasks = optimizerStepTasks(P);
  X->Events.assign(P.Tasks.size(), {nullptr, nullptr});
  for (auto &[Start, End] : X->Events)
    if (!PFC_CUDA_CHECK(cudaEventCreate(&Start)) || !PFC_CUDA_CHECK(cudaEventCreate(&End)))
      break;
  if (llvm::Error E = takeCudaError())
    return E;
  return X;
}

template <typename T> Executor<T>::~Executor() {
  for (auto &[Start, End] : Events)
    for (cudaEvent_t Ev : {Start, End})
      if (Ev)
        PFC_CUDA_CHECK(cudaEventDestroy(Ev));
}

template <typename T>
llvm::Expected<StepResult> Executor<T>::runStep(std::span<const Batch> Batches) {
  if (llvm::Error E = checkBatches(*Prog, Batches))
    return E;
  for (Model<T> *M : Replicas)
    M->zeroGrad(*Lanes[0]);
  Lanes[0]->sync();
  if (llvm::Error E = takeCudaError())
    return E;
  const T LossScale = stepLossScale<T>(Batches);
  Kfac->beginStep(Steps, LossScale);
  const auto Start = std::chrono::steady_clock::now();
  CudaRunner<T> Run(Walker, Replicas, Optimizers, Lanes, *Kfac, Events, SyncEachTask, Batches,
                    LossScale);
  std::vector<double> TaskMs;
  llvm::Error Walked = Walker.walk(Run, TaskMs);
  for (auto &L : Lanes) // also after a failure: nothing may stay queued
    L->sync();
  if (Walked)
    return Walked;
  if (llvm::Error E = takeCudaError())
    return E;
  std::vector<std::pair<TaskId, double>> UpdateMs; // deferred K-FAC updates
  Kfac->finishWarmup([&](int32_t Stage, auto &&Body) {
    const TaskId Id = StepTasks[static_cast<size_t>(Stage)];
    const auto Begin = std::chrono::steady_clock::now();
    Body(*Lanes[static_cast<size_t>(Prog->Tasks[Id].Device)]);
    for (auto &L : Lanes) // the copies' updates run on their own devices' lanes
      L->sync();
    const std::chrono::duration<double, std::milli> Ms = std::chrono::steady_clock::now() - Begin;
    UpdateMs.emplace_back(Id, Ms.count());
  });
  Kfac->applyDeferred([&](KfacOptimizer<T> &Opt, int32_t Stage, double Nu) {
    const TaskId Id = StepTasks[static_cast<size_t>(Stage)];
    const auto Begin = std::chrono::steady_clock::now();
    Opt.stepWithClip(*Lanes[static_cast<size_t>(Prog->Tasks[Id].Device)], Nu);
    const std::chrono::duration<double, std::milli> Ms = std::chrono::steady_clock::now() - Begin;
    UpdateMs.emplace_back(Id, Ms.count());
  });
  if (llvm::Error E = takeCudaError())
    return E;
  const std::chrono::duration<double, std::milli> Took = std::chrono::steady_clock::now() - Start;
  for (TaskId Id = 0; Id < Prog->numTasks(); ++Id) {
    float Ms = 0;
    if (Run.timed(Id) &&
        PFC_CUDA_CHECK(cudaEventElapsedTime(&Ms, Events[Id].first, Events[Id].second)))
      TaskMs[static_cast<size_t>(Id)] = Ms;
  }
  for (auto [Id, Ms] : UpdateMs)
    TaskMs[static_cast<size_t>(Id)] += Ms;
  if (llvm::Error E = takeCudaError())
    return E;
  Kfac->endStep();
  ++Steps;
  StepResult R = Run.result();
  R.TaskMs = std::move(TaskMs);
  R.StepMs = Took.count();
  return R;
}

template class Executor<float>;
template class Executor<double>;

} // namespace pfc::interp::cuda
