//===- PlanWalker.cpp - the backend-neutral plan walker --------------------===//
//
// All scheduling state (task states, stream positions, collective arrivals)
// lives under one mutex; tasks run outside it. When every live device waits
// and no device has a runnable task, the plan deadlocks and the step fails
// instead of hanging. Skipped tasks start out done; so do the edges a
// lagged curvature's data satisfied in the previous step.
//
//===----------------------------------------------------------------------===//
#include "PlanWalker.h"

#include "ir/Diagnostics.h"

#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace pfc::interp {
namespace {
enum class TaskState : uint8_t { Waiting, Running, Done };

constexpr std::array<StreamKind, NumStreams> StreamOrder{proto::RECV, proto::SEND,
                                                         proto::COLLECTIVE, proto::COMPUTE};

/// Kinds the walker runs as one collective over a group of tasks.
bool isGroupCollective(TaskKind K) {
  return K == proto::ALL_REDUCE || K == proto::FACTOR_ALL_REDUCE || K == proto::REDUCE_SCATTER ||
         K == proto::ALL_GATHER;
}
} // namespace

/// The state of one walk (one step).
class WalkState {
public:
  WalkState(const PlanWalker &W, TaskRunner &R, std::vector<double> &TaskMs)
      : W(W), P(W.P), R(R), TaskMs(TaskMs), State(P.Tasks.size(), TaskState::Waiting),
        Next(P.Devices.size()), Live(P.numDevices()) {
    TaskMs.assign(P.Tasks.size(), -1.0);
    for (TaskId Id = 0; Id < P.numTasks(); ++Id)
      if (R.skipped(P.Tasks[Id]))
        State[Id] = TaskState::Done;
  }

  llvm::Error run() {
    std::vector<std::thread> Threads;
    for (int32_t D = 0; D < P.numDevices(); ++D)
      Threads.emplace_back([this, D] { deviceLoop(D); });
    for (auto &Th : Threads)
      Th.join();
    if (Failure)
      return std::move(Failure);
    return llvm::Error::success();
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
      for (TaskId Pred : W.Preds.of(Stream[Pos]))
        Ready &= State[Pred] == TaskState::Done || R.satisfiedEarlier(Tk, P.Tasks[Pred]);
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

  /// What each stream waits at: its head and the first predecessor not
  /// done, or the all-reduce group it joined.
  std::string stuckHeads() {
    std::string Out;
    for (int32_t D = 0; D < P.numDevices(); ++D)
      for (StreamKind S : StreamOrder) {
        const auto &Stream = P.stream(D, S);
        size_t Pos = Next[static_cast<size_t>(D)][S];
        if (Pos >= Stream.size())
          continue;
        const TaskId Head = Stream[Pos];
        const Task &Tk = P.Tasks[Head];
        std::string Why;
        if (State[Head] == TaskState::Running) {
          Why = "joined its collective with";
          for (TaskId M : W.Groups.at(W.groupOf(Head)))
            if (M != Head)
              Why += fmt::format(" task {}", M);
        }
        for (TaskId Pred : W.Preds.of(Head))
          if (Why.empty() && State[Pred] != TaskState::Done &&
              !R.satisfiedEarlier(Tk, P.Tasks[Pred]))
            Why = fmt::format("waits for task {} ({}, device {})", Pred,
                              taskKindName(P.Tasks[Pred].Kind), P.Tasks[Pred].Device);
        Out += fmt::format(" device {} {}: task {} ({}) {}", D, streamName(S), Head,
                           taskKindName(Tk.Kind), Why);
        Out += ";";
      }
    if (!Out.empty())
      Out.pop_back();
    return Out;
  }

  bool anyReady() {
    for (int32_t D = 0; D < P.numDevices(); ++D)
      if (findReady(D) != NoTask)
        return true;
    return false;
  }

  /// Keeps the first failure (caller holds the lock).
  void fail(llvm::Error E) {
    if (!E)
      return;
    if (Failure)
      llvm::consumeError(std::move(E));
    else
      Failure = std::move(E);
  }

  void deviceLoop(int32_t D) {
    llvm::Error Start = R.startDevice(D);
    std::unique_lock<std::mutex> Lock(Mu);
    fail(std::move(Start));
    while (!Failure) {
      TaskId Id = findReady(D);
      if (Id == NoTask) {
        if (finished(D))
          break;
        if (Waiting + 1 == Live && !anyReady()) {
          fail(userError("pfc-run: error: the plan deadlocks: no device can start its next "
                         "task;{}",
                         stuckHeads()));
          break;
        }
        ++Waiting;
        Cv.wait(Lock);
        --Waiting;
        continue;
      }
      State[Id] = TaskState::Running;
      Lock.unlock();
      const auto Begin = std::chrono::steady_clock::now();
      bool Ended = true;
      llvm::Error E = execute(Id, Ended);
      const std::chrono::duration<double, std::milli> Took =
          std::chrono::steady_clock::now() - Begin;
      Lock.lock();
      fail(std::move(E));
      TaskMs[Id] = Took.count();
      if (Ended)
        State[Id] = TaskState::Done;
      Cv.notify_all();
    }
    --Live;
    Cv.notify_all();
  }

  /// Runs a task; \p Ended is false for an all-reduce member waiting for
  /// the rest of its group. The last arrival reduces and ends the others.
  llvm::Error execute(TaskId Id, bool &Ended) {
    if (!isGroupCollective(P.Tasks[Id].Kind))
      return R.run(Id);
    const auto Key = W.groupOf(Id);
    const std::vector<TaskId> &Members = W.Groups.at(Key);
    {
      std::lock_guard<std::mutex> Lock(Mu);
      if (++Arrived[Key] < static_cast<int32_t>(Members.size())) {
        Ended = false;
        return llvm::Error::success();
      }
    }
    llvm::Error E = R.reduce(Members);
    std::lock_guard<std::mutex> Lock(Mu);
    for (TaskId Member : Members)
      if (Member != Id)
        State[Member] = TaskState::Done;
    return E;
  }

  const PlanWalker &W;
  const Program &P;
  TaskRunner &R;
  std::vector<double> &TaskMs;
  std::vector<TaskState> State;
  std::vector<std::array<size_t, NumStreams>> Next;
  std::map<PlanWalker::GroupKey, int32_t> Arrived;
  std::mutex Mu;
  std::condition_variable Cv;
  int32_t Live, Waiting = 0;
  llvm::Error Failure = llvm::Error::success();
};

PlanWalker::PlanWalker(const Program &Prog)
    : P(Prog), Preds(Prog.predecessors()), Ordinal(Prog.Tasks.size(), 0) {
  std::vector<int32_t> Gathers(P.Stages.size(), 0);
  for (TaskId Id = 0; Id < P.numTasks(); ++Id)
    if (P.Tasks[Id].Kind == proto::ALL_GATHER && P.Tasks[Id].Stage >= 0 &&
        P.Tasks[Id].Stage < P.numStages())
      Ordinal[Id] = Gathers[static_cast<size_t>(P.Tasks[Id].Stage)]++;
  for (TaskId Id = 0; Id < P.numTasks(); ++Id)
    if (isGroupCollective(P.Tasks[Id].Kind))
      Groups[groupOf(Id)].push_back(Id);
}

PlanWalker::GroupKey PlanWalker::groupOf(TaskId Id) const {
  const Task &Tk = P.Tasks[Id];
  const Stage &St = P.Stages[Tk.Stage];
  return {Tk.Kind, St.LayerBegin, St.LayerEnd, Tk.Layer, Ordinal[Id]};
}

llvm::Error PlanWalker::walk(TaskRunner &R, std::vector<double> &TaskMs) const {
  WalkState S(*this, R, TaskMs);
  return S.run();
}

TaskId PlanWalker::producer(TaskId Id) const {
  const Task &Tk = P.Tasks[Id];
  if (Tk.Kind == proto::SEND_ACTIVATION || Tk.Kind == proto::SEND_GRADIENT) {
    for (TaskId Pred : Preds.of(Id))
      if (isCompute(P.Tasks[Pred].Kind))
        return Pred;
    return NoTask;
  }
  const TaskKind Recv = Tk.Kind == proto::FORWARD ? proto::RECV_ACTIVATION
                                                  : proto::RECV_GRADIENT;
  for (TaskId Pred : Preds.of(Id)) {
    const Task &Pk = P.Tasks[Pred];
    if (Pk.Kind == Recv || (Pk.Kind == Tk.Kind && Pk.Stage != Tk.Stage))
      return Pred;
  }
  return NoTask;
}

llvm::Error PlanWalker::checkRunnable(const Program &P, size_t Replicas, int32_t ModelLayers,
                                      std::string_view Backend) {
  if (P.Options.data_parallel() > 1)
    return userError("pfc-run: error: the {} executor runs one data-parallel replica (expand the "
                     "others with expandDataParallel, DataParallel.h); the "
                     "plan has {}",
                     Backend, P.Options.data_parallel());
  const int32_t Pipelines = P.numPipelines();
  if (Replicas != static_cast<size_t>(Pipelines))
    return userError("pfc-run: error: the plan has {} pipelines, {} model replicas were given",
                     Pipelines, Replicas);
  if (ModelLayers != P.Model.num_layers())
    return userError("pfc-run: error: the plan's model has {} blocks, the interpreter's {}",
                     P.Model.num_layers(), ModelLayers);
  // Each pipeline builds one model replica from its stages' layers: they
  // must hold every layer, in position order.
  for (int32_t Pipe = 0; Pipe < Pipelines; ++Pipe) {
    std::map<int32_t, const Stage *> ByPosition;
    for (const Stage &St : P.Stages)
      if (St.Pipeline == Pipe)
        ByPosition[St.Position] = &St;
    int32_t Next = 0;
    for (auto [Position, St] : ByPosition) {
      if (St->LayerBegin != Next)
        return userError("pfc-run: error: the plan's pipeline {} leaves layers [{}, {}) to no "
                         "stage (position {} starts at {}); each pipeline's stages must hold "
                         "all {} layers (embedding, blocks, head) in order",
                         Pipe, Next, St->LayerBegin, Position, St->LayerBegin,
                         P.Model.num_layers() + 2);
      Next = St->LayerEnd;
    }
    if (Next != P.Model.num_layers() + 2)
      return userError("pfc-run: error: the plan's pipeline {} ends at layer {}, not at the "
                       "model's last ({} layers: embedding, {} blocks, head)",
                       Pipe, Next, P.Model.num_layers() + 2, P.Model.num_layers());
  }
  for (TaskId Id = 0; Id < P.numTasks(); ++Id) {
    switch (P.Tasks[Id].Kind) {
    case proto::FORWARD: case proto::BACKWARD: case proto::SEND_ACTIVATION:
    case proto::SEND_GRADIENT: case proto::RECV_ACTIVATION: case proto::RECV_GRADIENT:
    case proto::ALL_REDUCE: case proto::OPTIMIZER_STEP: case proto::CURVATURE_A:
    case proto::CURVATURE_B: case proto::FACTOR_ALL_REDUCE: case proto::INVERT_A:
    case proto::INVERT_B: case proto::PRECONDITION: case proto::REDUCE_SCATTER:
    case proto::ALL_GATHER:
      break;
    default:
      return userError("pfc-run: error: the {} interpreter cannot run {} tasks yet (task {})",
                       Backend, taskKindName(P.Tasks[Id].Kind), Id);
    }
  }
  for (TaskId Id = 0; Id < P.numTasks(); ++Id)
    if (isGroupCollective(P.Tasks[Id].Kind) &&
        (P.Tasks[Id].Stage < 0 || P.Tasks[Id].Stage >= P.numStages()))
      return userError("pfc-run: error: the plan's {} task {} has no valid stage ({})",
                       taskKindName(P.Tasks[Id].Kind), Id, P.Tasks[Id].Stage);
  // The members of a collective group must all run in the same steps, or
  // the first to arrive would wait for a member its step skips.
  const PlanWalker W(P);
  std::map<GroupKey, TaskId> First;
  for (TaskId Id = 0; Id < P.numTasks(); ++Id) {
    const Task &Tk = P.Tasks[Id];
    if (!isGroupCollective(Tk.Kind))
      continue;
    auto [It, New] = First.try_emplace(W.groupOf(Id), Id);
    const Task &Other = P.Tasks[It->second];
    if (!New && Other.CycleStep != Tk.CycleStep)
      return userError("pfc-run: error: the plan's {} tasks {} and {} reduce together but run "
                       "in different steps of the refresh cycle (cycle_step {} and {})",
                       taskKindName(Tk.Kind), It->second, Id, Other.CycleStep, Tk.CycleStep);
  }
  return llvm::Error::success();
}

} // namespace pfc::interp
