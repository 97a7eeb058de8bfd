//===- Executor.cpp - runs one training step of a plan on the CPU ----------===//
//
// All scheduling state (task states, stream positions, all-reduce arrivals)
// lives under one mutex; kernels run outside it. A task's output tensor sits
// in its slot of Outputs until its single consumer moves it out: the next
// stage's compute task on the same device, or the SEND that posts it to the
// channel its RECV reads. The mutex hand-off orders a slot's write before
// its read. When every live device waits and no device has a runnable task,
// the plan deadlocks and the step fails instead of hanging.
//
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include "Blas.h"

#include "ir/Diagnostics.h"

#include <array>
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
          const std::vector<Optimizer<T> *> &Optimizers, std::span<const Batch> Batches)
      : P(P), Replicas(Replicas), Optimizers(Optimizers), Batches(Batches),
        Preds(P.predecessors()), State(P.Tasks.size(), TaskState::Waiting),
        Next(P.Devices.size()), Outputs(P.Tasks.size()), Losses(Batches.size(), 0.0),
        Live(P.numDevices()) {
    int64_t Rows = 0;
    for (const Batch &B : Batches)
      Rows += static_cast<int64_t>(B.Tokens.size());
    LossScale = T(1) / static_cast<T>(Rows);
    for (TaskId Id = 0; Id < P.numTasks(); ++Id)
      if (P.Tasks[Id].Kind == proto::ALL_REDUCE) {
        const Stage &St = P.Stages[P.Tasks[Id].Stage];
        Groups[{St.LayerBegin, St.LayerEnd}].push_back(Id);
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
      for (TaskId Pred : Preds.of(Stream[Pos]))
        Ready &= State[Pred] == TaskState::Done;
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
      const bool Ended = execute(Id);
      Lock.lock();
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
      return arrive(Id);
    case proto::OPTIMIZER_STEP:
      if (Optimizer<T> *Opt = Optimizers[static_cast<size_t>(Tk.Stage)])
        Opt->step();
      return true;
    default:
      return true; // create() rejects every other kind
    }
  }

  /// All-reduce member \p Id arrives; the last arrival sums the group's
  /// gradients (in task id order, so the result is deterministic), gives
  /// every member the sum and ends the other members' tasks.
  bool arrive(TaskId Id) {
    const Stage &St = P.Stages[P.Tasks[Id].Stage];
    const auto &Members = Groups[{St.LayerBegin, St.LayerEnd}];
    {
      std::lock_guard<std::mutex> Lock(Mu);
      if (++Arrived[{St.LayerBegin, St.LayerEnd}] < static_cast<int32_t>(Members.size()))
        return false;
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
    std::lock_guard<std::mutex> Lock(Mu);
    for (TaskId Member : Members)
      if (Member != Id)
        State[Member] = TaskState::Done;
    return true;
  }

  const Program &P;
  const std::vector<Model<T> *> &Replicas;
  const std::vector<Optimizer<T> *> &Optimizers;
  std::span<const Batch> Batches;
  Adjacency Preds;
  std::vector<TaskState> State;
  std::vector<std::array<size_t, NumStreams>> Next;
  std::vector<Tensor<T>> Outputs;
  std::vector<double> Losses;
  std::map<std::pair<int32_t, int32_t>, std::vector<TaskId>> Groups;
  std::map<std::pair<int32_t, int32_t>, int32_t> Arrived;
  T LossScale = 1;
  std::mutex Mu;
  std::condition_variable Cv;
  int32_t Live, Waiting = 0;
  std::string Failure;
};

} // namespace

template <typename T>
Executor<T>::Executor(const Program &P, std::vector<Model<T> *> Rs)
    : Prog(&P), Replicas(std::move(Rs)), Optimizers(P.Stages.size(), nullptr) {}

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
    case proto::ALL_REDUCE: case proto::OPTIMIZER_STEP:
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
  StepRun<T> Run(*Prog, Replicas, Optimizers, Batches);
  if (llvm::Error E = Run.run())
    return std::move(E);
  return Run.result();
}

template class Executor<float>;
template class Executor<double>;

} // namespace pfc::interp
