//===- CudaExecutor.cpp - runs one training step of a plan on one GPU ------===//
//
// The CUDA TaskRunner. Output slots hold device tensors, moved from producer
// to consumer exactly as the CPU runner moves host tensors; begin() and end()
// around every task place the events (CudaExecutor.h).
//
//===----------------------------------------------------------------------===//
#include "CudaExecutor.h"

#include "Kernels.h"

#include "ir/Diagnostics.h"

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

namespace {

thread_local int32_t CurrentDevice = 0;

template <typename T> class CudaRunner : public TaskRunner {
public:
  CudaRunner(const PlanWalker &W, const std::vector<Model<T> *> &Replicas,
             const std::vector<Optimizer<T> *> &Optimizers,
             std::vector<std::unique_ptr<Lane>> &Lanes, KfacTasks<T> &Kfac,
             const std::vector<std::pair<cudaEvent_t, cudaEvent_t>> &Events, bool SyncEachTask,
             std::span<const Batch> Batches, T LossScale)
      : W(W), P(W.program()), Replicas(Replicas), Optimizers(Optimizers), Lanes(Lanes),
        Kfac(Kfac), Events(Events), SyncEachTask(SyncEachTask), Batches(Batches),
        Outputs(P.Tasks.size()), RanOn(P.Tasks.size(), -1), Losses(Batches.size(), 0.0),
        LossScale(LossScale) {}

  /// Whether task \p Id's start and end events were recorded this step.
  bool timed(TaskId Id) const { return RanOn[static_cast<size_t>(Id)] >= 0; }

  llvm::Error startDevice(int32_t Device) override {
    CurrentDevice = Device;
    PFC_CUDA_CHECK(cudaSetDevice(0));
    return takeCudaError();
  }
  bool skipped(const Task &Tk) const override { return isCycleTask(Tk.Kind) && !Kfac.runs(Tk); }
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const override {
    return Kfac.satisfiedEarlier(Tk, Pred);
  }

  StepResult result() const {
    StepResult R;
    R.MicrobatchLoss = Losses;
    for (size_t I = 0; I < Losses.size(); ++I)
      R.Loss += Losses[I] * static_cast<double>(Batches[I].Tokens.size()) *
                static_cast<double>(LossScale);
    return R;
  }

  llvm::Error run(TaskId Id) override {
    const Task &Tk = P.Tasks[Id];
    Lane &L = *Lanes[static_cast<size_t>(Tk.Device)];
    begin(L, Tk.Device, Id);
    switch (Tk.Kind) {
    case proto::FORWARD:
    case proto::BACKWARD: {
      const Stage &St = P.Stages[Tk.Stage];
      Model<T> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
      const int32_t Mb = Tk.Microbatch;
      const TaskId From = W.producer(Id);
      DeviceTensor<T> In = From == NoTask ? DeviceTensor<T>() : std::move(Outputs[From]);
      if (Tk.Kind == proto::FORWARD) {
        double Loss = 0;
        DeviceTensor<T> Out = M.forward(L, St.LayerBegin, St.LayerEnd, Mb, Batches[Mb], In, &Loss);
        if (St.LayerEnd == M.numLayers())
          Losses[static_cast<size_t>(Mb)] = Loss;
        else
          Outputs[Id] = std::move(Out);
      } else {
        Outputs[Id] = M.backward(L, St.LayerBegin, St.LayerEnd, Mb, In, LossScale);
      }
      break;
    }
    case proto::SEND_ACTIVATION:
    case proto::SEND_GRADIENT:
      if (TaskId From = W.producer(Id); From != NoTask)
        Outputs[Id] = std::move(Outputs[From]);
      break;
    case proto::RECV_ACTIVATION:
    case proto::RECV_GRADIENT:
      Outputs[Id] = std::move(Outputs[Tk.Peer]);
      break;
    case proto::CURVATURE_A:
    case proto::CURVATURE_B:
      Kfac.curvature(L, Tk);
      break;
    case proto::INVERT_A:
    case proto::INVERT_B:
      Kfac.invert(L, Tk);
      break;
    case proto::PRECONDITION:
      Kfac.precondition(L, Tk);
      break;
    case proto::OPTIMIZER_STEP:
      if (Optimizer<T> *Opt = Optimizers[static_cast<size_t>(Tk.Stage)])
        Opt->step(L);
      break;
    default:
      break; // checkRunnable rejects every other kind
    }
    end(L, Tk.Device, Id);
    return takeCudaError();
  }

  /// Sums the members' gradients (or K-FAC factor sums) in task id order on
  /// this thread's lane, after waiting for every member's predecessors.
  llvm::Error reduce(std::span<const TaskId> Members) override {
    Lane &L = *Lanes[static_cast<size_t>(CurrentDevice)];
    for (TaskId Member : Members)
      begin(L, CurrentDevice, Member);
    if (P.Tasks[Members[0]].Kind == proto::FACTOR_ALL_REDUCE) {
      std::vector<int32_t> Stages;
      for (TaskId Member : Members)
        Stages.push_back(P.Tasks[Member].Stage);
      Kfac.sumFactors(L, P.Tasks[Members[0]].Layer, Stages);
      for (TaskId Member : Members)
        end(L, CurrentDevice, Member);
      return takeCudaError();
    }
    std::vector<DeviceParamList<T>> Lists;
    for (TaskId Member : Members) {
      const Stage &MSt = P.Stages[P.Tasks[Member].Stage];
      Lists.push_back(Replicas[static_cast<size_t>(MSt.Pipeline)]->params(MSt.LayerBegin,
                                                                          MSt.LayerEnd));
    }
    for (size_t I = 0; I < Lists[0].size(); ++I) {
      DeviceTensor<T> Sum = Lists[0][I]->Grad.clone(L.stream());
      for (size_t R = 1; R < Lists.size(); ++R)
        axpy(Sum.data(), Lists[R][I]->Grad.data(), Sum.numel(), T(1), L.stream());
      for (auto &List : Lists)
        List[I]->Grad.copyFrom(Sum, L.stream());
    }
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
        if (Kfac.satisfiedEarlier(Tk, P.Tasks[Pred]))
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
  const std::vector<Model<T> *> &Replicas;
  const std::vector<Optimizer<T> *> &Optimizers;
  std::vector<std::unique_ptr<Lane>> &Lanes;
  KfacTasks<T> &Kfac;
  const std::vector<std::pair<cudaEvent_t, cudaEvent_t>> &Events;
  bool SyncEachTask;
  std::span<const Batch> Batches;
  std::vector<DeviceTensor<T>> Outputs;
  /// Per task: the plan device whose lane ran it this step, or -1. Written
  /// before the walker ends the task, read only by tasks it orders after.
  std::vector<int32_t> RanOn;
  std::vector<double> Losses;
  T LossScale = 1;
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
  int32_t Layers = P.Model.num_layers(); // the first replica that differs, if any
  for (Model<T> *M : Replicas)
    if (M->config().Layers != Layers) {
      Layers = M->config().Layers;
      break;
    }
  if (llvm::Error E = PlanWalker::checkRunnable(P, Replicas.size(), Layers, "CUDA"))
    return E;
  if (llvm::Error E = requireDevice())
    return E;
  std::unique_ptr<Executor> X(new Executor(P, std::move(Replicas)));
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    X->Lanes.push_back(Lane::create());
    if (!X->Lanes.back())
      break;
  }
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
  for (const Task &Tk : Prog->Tasks)
    if (Tk.Microbatch >= static_cast<int32_t>(Batches.size()))
      return userError("pfc-run: error: the plan runs micro-batch {}, {} were given",
                       Tk.Microbatch, Batches.size());
  for (Model<T> *M : Replicas)
    M->zeroGrad(*Lanes[0]);
  Lanes[0]->sync();
  if (llvm::Error E = takeCudaError())
    return E;
  int64_t Rows = 0;
  for (const Batch &B : Batches)
    Rows += static_cast<int64_t>(B.Tokens.size());
  const T LossScale = T(1) / static_cast<T>(Rows);
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
  const std::chrono::duration<double, std::milli> Took = std::chrono::steady_clock::now() - Start;
  for (TaskId Id = 0; Id < Prog->numTasks(); ++Id) {
    float Ms = 0;
    if (Run.timed(Id) &&
        PFC_CUDA_CHECK(cudaEventElapsedTime(&Ms, Events[Id].first, Events[Id].second)))
      TaskMs[static_cast<size_t>(Id)] = Ms;
  }
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
