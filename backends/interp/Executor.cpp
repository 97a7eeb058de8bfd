//===- Executor.cpp - runs one training step of a plan on the CPU ----------===//
//
// All scheduling state (task states, stream positions, all-reduce arrivals)
// lives under one mutex; kernels run outside it. A task's output tensor sits
// in its slot of Outputs until its single consumer moves it out: the next
// stage's compute task on the same device, or the SEND that posts it to the
// channel its RECV reads. The mutex hand-off orders a slot's write before
// its read. When every live device waits and no device has a runnable task,
// the plan deadlocks and the step fails instead of hanging. Cycle tasks not
// due this step start out done; so do the edges a lagged curvature's data
// satisfied in the previous step.
//
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include "Blas.h"

#include "ir/Diagnostics.h"

#include <array>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace pfc::interp {
namespace {

enum class TaskState : uint8_t { Waiting, Running, Done };

constexpr std::array<StreamKind, NumStreams> StreamOrder{proto::RECV, proto::SEND,
                                                         proto::COLLECTIVE, proto::COMPUTE};

template <typename T> class StepRun {
public:
  StepRun(const Program &P, const std::vector<Model<T> *> &Replicas,
          const std::vector<Optimizer<T> *> &Optimizers, KfacTasks<T> &Kfac,
          std::span<const Batch> Batches, T LossScale)
      : P(P), Replicas(Replicas), Optimizers(Optimizers), Kfac(Kfac), Batches(Batches),
        Preds(P.predecessors()), State(P.Tasks.size(), TaskState::Waiting),
        Next(P.Devices.size()), Outputs(P.Tasks.size()), Losses(Batches.size(), 0.0),
        TaskMs(P.Tasks.size(), -1.0), LossScale(LossScale), Live(P.numDevices()) {
    for (TaskId Id = 0; Id < P.numTasks(); ++Id) {
      const Task &Tk = P.Tasks[Id];
      if (isCycleTask(Tk.Kind) && !Kfac.runs(Tk))
        State[Id] = TaskState::Done;
      if (Tk.Kind == proto::ALL_REDUCE || Tk.Kind == proto::FACTOR_ALL_REDUCE) {
        const Stage &St = P.Stages[Tk.Stage];
        Groups[{Tk.Kind, St.LayerBegin, St.LayerEnd, Tk.Layer}].push_back(Id);
      }
    }
  }

  llvm::Error run() {
    std::vector<std::thread> Threads;
    for (int32_t D = 0; D < P.numDevices(); ++D)
      Threads.emplace_back([this, D] { deviceLoop(D); });
    for (auto &Th : Threads)
      Th.join();
    if (!Failure.empty())
      return userError("pfc-run: error: {}", Failure);
    return llvm::Error::success();
  }

  StepResult result() const {
    StepResult R;
    R.MicrobatchLoss = Losses;
    R.TaskMs = TaskMs;
    for (size_t I = 0; I < Losses.size(); ++I)
      R.Loss += Losses[I] * static_cast<double>(Batches[I].Tokens.size()) *
                static_cast<double>(LossScale);
    return R;
  }

private:
  /// The runnable head of one of device \p D's streams, or NoTask. Skips
  /// heads already done (all-reduces completed by another member).
  TaskId findReady(int32_t D) {
    for (StreamKind S : StreamOrder) {
      const auto &Stream = P.stream(D, S);
      size_t &Pos = Next[static_cast<size_t>(D)][S];
      while (Pos < Stream.size() && State[Stream[Pos]] == TaskState::Done)
        ++Pos;
      if (Pos == Stream.size() || State[Stream[Pos]] != TaskState::Waiting)
        continue;
      bool Ready = true;
      const Task &Tk = P.Tasks[Stream[Pos]];
      for (TaskId Pred : Preds.of(Stream[Pos]))
        Ready &= State[Pred] == TaskState::Done || Kfac.satisfiedEarlier(Tk, P.Tasks[Pred]);
      if (Ready)
        return Stream[Pos];
    }
    return NoTask;
  }

  bool finished(int32_t D) {
    for (int S = 0; S < NumStreams; ++S)
      if (Next[static_cast<size_t>(D)][S] < P.stream(D, static_cast<StreamKind>(S)).size())
        return false;
    return true;
  }

  void deviceLoop(int32_t D) {
    std::unique_lock<std::mutex> Lock(Mu);
    while (Failure.empty()) {
      TaskId Id = findReady(D);
      if (Id == NoTask) {
        if (finished(D))
          break;
        if (Waiting + 1 == Live && !anyReady()) {
          Failure = "the plan deadlocks: no device can start its next task";
          break;
        }
        ++Waiting;
        Cv.wait(Lock);
        --Waiting;
        continue;
      }
      State[Id] = TaskState::Running;
      Lock.unlock();
      const auto Start = std::chrono::steady_clock::now();
      const bool Ended = execute(Id);
      const std::chrono::duration<double, std::milli> Took =
          std::chrono::steady_clock::now() - Start;
      Lock.lock();
      TaskMs[Id] = Took.count();
      if (Ended)
        State[Id] = TaskState::Done;
      Cv.notify_all();
    }
    --Live;
    Cv.notify_all();
  }

  bool anyReady() {
    for (int32_t D = 0; D < P.numDevices(); ++D)
      if (findReady(D) != NoTask)
        return true;
    return false;
  }

  /// Moves the tensor a compute task consumes out of its producer's slot:
  /// a RECV of the right kind, or a compute task of the same kind on another
  /// stage of this device. Empty for the first forward and the last backward.
  Tensor<T> takeInput(TaskId Id) {
    const Task &Tk = P.Tasks[Id];
    const TaskKind Recv = Tk.Kind == proto::FORWARD ? proto::RECV_ACTIVATION
                                                    : proto::RECV_GRADIENT;
    for (TaskId Pred : Preds.of(Id)) {
      const Task &Pk = P.Tasks[Pred];
      if (Pk.Kind == Recv || (Pk.Kind == Tk.Kind && Pk.Stage != Tk.Stage))
        return std::move(Outputs[Pred]);
    }
    return {};
  }

  /// Runs a task; false when it has not ended (an all-reduce member waiting
  /// for the rest of its group).
  bool execute(TaskId Id) {
    const Task &Tk = P.Tasks[Id];
    switch (Tk.Kind) {
    case proto::FORWARD:
    case proto::BACKWARD: {
      const Stage &St = P.Stages[Tk.Stage];
      Model<T> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
      const int32_t Mb = Tk.Microbatch;
      Tensor<T> In = takeInput(Id);
      if (Tk.Kind == proto::FORWARD) {
        Tensor<T> Out = M.forward(St.LayerBegin, St.LayerEnd, Mb, Batches[Mb], In);
        if (St.LayerEnd == M.numLayers())
          Losses[static_cast<size_t>(Mb)] = static_cast<double>(Out[0]);
        else
          Outputs[Id] = std::move(Out);
      } else {
        Outputs[Id] = M.backward(St.LayerBegin, St.LayerEnd, Mb, In, LossScale);
      }
      return true;
    }
    case proto::SEND_ACTIVATION:
    case proto::SEND_GRADIENT:
      for (TaskId Pred : Preds.of(Id))
        if (isCompute(P.Tasks[Pred].Kind))
          Outputs[Id] = std::move(Outputs[Pred]);
      return true;
    case proto::RECV_ACTIVATION:
    case proto::RECV_GRADIENT:
      Outputs[Id] = std::move(Outputs[Tk.Peer]);
      return true;
    case proto::ALL_REDUCE:
    case proto::FACTOR_ALL_REDUCE:
      return arrive(Id);
    case proto::CURVATURE_A:
    case proto::CURVATURE_B:
      Kfac.curvature(Tk);
      return true;
    case proto::INVERT_A:
    case proto::INVERT_B:
      Kfac.invert(Tk);
      return true;
    case proto::PRECONDITION:
      Kfac.precondition(Tk);
      return true;
    case proto::OPTIMIZER_STEP:
      if (Optimizer<T> *Opt = Optimizers[static_cast<size_t>(Tk.Stage)])
        Opt->step();
      return true;
    default:
      return true; // create() rejects every other kind
    }
  }

  /// All-reduce member \p Id arrives; the last arrival sums the group's
  /// gradients (in task id order, so the result is deterministic) or K-FAC
  /// factor sums, gives every member the sum and ends the other members' tasks.
  bool arrive(TaskId Id) {
    const Task &Tk = P.Tasks[Id];
    const Stage &St = P.Stages[Tk.Stage];
    const GroupKey Key{Tk.Kind, St.LayerBegin, St.LayerEnd, Tk.Layer};
    const auto &Members = Groups[Key];
    {
      std::lock_guard<std::mutex> Lock(Mu);
      if (++Arrived[Key] < static_cast<int32_t>(Members.size()))
        return false;
    }
    if (Tk.Kind == proto::FACTOR_ALL_REDUCE) {
      std::vector<int32_t> Stages;
      for (TaskId Member : Members)
        Stages.push_back(P.Tasks[Member].Stage);
      Kfac.sumFactors(Tk.Layer, Stages);
      return endMembers(Members, Id);
    }
    std::vector<ParamList<T>> Lists;
    for (TaskId Member : Members) {
      const Stage &MSt = P.Stages[P.Tasks[Member].Stage];
      Lists.push_back(Replicas[static_cast<size_t>(MSt.Pipeline)]->params(MSt.LayerBegin,
                                                                          MSt.LayerEnd));
    }
    for (size_t I = 0; I < Lists[0].size(); ++I) {
      Tensor<T> Sum = Lists[0][I]->Grad;
      for (size_t R = 1; R < Lists.size(); ++R)
        addScaled(Sum, Lists[R][I]->Grad);
      for (auto &L : Lists)
        L[I]->Grad = Sum;
    }
    return endMembers(Members, Id);
  }

  bool endMembers(const std::vector<TaskId> &Members, TaskId Id) {
    std::lock_guard<std::mutex> Lock(Mu);
    for (TaskId Member : Members)
      if (Member != Id)
        State[Member] = TaskState::Done;
    return true;
  }

  using GroupKey = std::tuple<int32_t, int32_t, int32_t, int32_t>;

  const Program &P;
  const std::vector<Model<T> *> &Replicas;
  const std::vector<Optimizer<T> *> &Optimizers;
  KfacTasks<T> &Kfac;
  std::span<const Batch> Batches;
  Adjacency Preds;
  std::vector<TaskState> State;
  std::vector<std::array<size_t, NumStreams>> Next;
  std::vector<Tensor<T>> Outputs;
  std::vector<double> Losses;
  std::vector<double> TaskMs;
  std::map<GroupKey, std::vector<TaskId>> Groups;
  std::map<GroupKey, int32_t> Arrived;
  T LossScale = 1;
  std::mutex Mu;
  std::condition_variable Cv;
  int32_t Live, Waiting = 0;
  std::string Failure;
};

} // namespace

template <typename T>
Executor<T>::Executor(const Program &P, std::vector<Model<T> *> Rs)
    : Prog(&P), Replicas(std::move(Rs)), Optimizers(P.Stages.size(), nullptr),
      Kfac(std::make_unique<KfacTasks<T>>(P, Replicas)) {}

template <typename T> void Executor<T>::setOptimizer(int32_t Stage, Optimizer<T> *Opt) {
  Optimizers[static_cast<size_t>(Stage)] = Opt;
  auto *K = dynamic_cast<KfacOptimizer<T> *>(Opt);
  Kfac->setOptimizer(Stage, K && K->options().PlanDriven ? K : nullptr);
}

template <typename T>
llvm::Expected<Executor<T>> Executor<T>::create(const Program &P,
                                                std::vector<Model<T> *> Replicas) {
  if (P.Options.data_parallel() > 1)
    return userError("pfc-run: error: the CPU interpreter runs one data-parallel replica; the "
                     "plan has {}",
                     P.Options.data_parallel());
  int32_t Pipelines = 0;
  for (const Stage &St : P.Stages)
    Pipelines = std::max(Pipelines, St.Pipeline + 1);
  if (static_cast<int32_t>(Replicas.size()) != Pipelines)
    return userError("pfc-run: error: the plan has {} pipelines, {} model replicas were given",
                     Pipelines, Replicas.size());
  for (Model<T> *M : Replicas)
    if (M->numLayers() != P.Model.num_layers() + 2)
      return userError("pfc-run: error: the plan's model has {} blocks, the interpreter's {}",
                       P.Model.num_layers(), M->config().Layers);
  for (TaskId Id = 0; Id < P.numTasks(); ++Id) {
    switch (P.Tasks[Id].Kind) {
    case proto::FORWARD: case proto::BACKWARD: case proto::SEND_ACTIVATION:
    case proto::SEND_GRADIENT: case proto::RECV_ACTIVATION: case proto::RECV_GRADIENT:
    case proto::ALL_REDUCE: case proto::OPTIMIZER_STEP: case proto::CURVATURE_A:
    case proto::CURVATURE_B: case proto::FACTOR_ALL_REDUCE: case proto::INVERT_A:
    case proto::INVERT_B: case proto::PRECONDITION:
      break;
    default:
      return userError("pfc-run: error: the CPU interpreter cannot run {} tasks yet (task {})",
                       taskKindName(P.Tasks[Id].Kind), Id);
    }
  }
  return Executor(P, std::move(Replicas));
}

template <typename T>
llvm::Expected<StepResult> Executor<T>::runStep(std::span<const Batch> Batches) {
  for (const Task &Tk : Prog->Tasks)
    if (Tk.Microbatch >= static_cast<int32_t>(Batches.size()))
      return userError("pfc-run: error: the plan runs micro-batch {}, {} were given",
                       Tk.Microbatch, Batches.size());
  setBlasThreads(1);
  for (Model<T> *M : Replicas)
    M->zeroGrad();
  int64_t Rows = 0;
  for (const Batch &B : Batches)
    Rows += static_cast<int64_t>(B.Tokens.size());
  const T LossScale = T(1) / static_cast<T>(Rows);
  Kfac->beginStep(Steps, LossScale);
  const auto Start = std::chrono::steady_clock::now();
  StepRun<T> Run(*Prog, Replicas, Optimizers, *Kfac, Batches, LossScale);
  if (llvm::Error E = Run.run())
    return std::move(E);
  const std::chrono::duration<double, std::milli> Took = std::chrono::steady_clock::now() - Start;
  Kfac->endStep();
  ++Steps;
  StepResult R = Run.result();
  R.StepMs = Took.count();
  return R;
}

template class Executor<float>;
template class Executor<double>;

} // namespace pfc::interp
