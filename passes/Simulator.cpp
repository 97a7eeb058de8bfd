//===- Simulator.cpp - event-driven timing of a program --------------------===//
#include "Simulator.h"

#include "ir/Diagnostics.h"

#include <algorithm>

namespace pfc {

namespace {
/// Whether each task is a K-FAC cycle task, read in one sequential sweep so
/// that later random-order lookups touch a byte per task, not a Task.
std::vector<uint8_t> cycleFlags(const Program &P) {
  std::vector<uint8_t> IsCycle(P.numTasks());
  for (TaskId T = 0; T < P.numTasks(); ++T)
    IsCycle[T] = isCycleTask(P.Tasks[T].Kind);
  return IsCycle;
}

/// Next per-step task in the same stream, or NoTask. K-FAC cycle tasks are
/// left out of the stream chains: they belong to one step of the cycle and
/// are timed by bubble-fill, not by the per-step simulation.
std::vector<TaskId> streamSuccessors(const Program &P, const std::vector<uint8_t> &IsCycle) {
  std::vector<TaskId> Next(P.numTasks(), NoTask);
  for (const auto &S : P.Streams) {
    TaskId Last = NoTask;
    for (TaskId T : S) {
      if (IsCycle[T])
        continue;
      if (Last != NoTask)
        Next[Last] = T;
      Last = T;
    }
  }
  return Next;
}
} // namespace

llvm::Expected<StepSimulator> StepSimulator::create(const Program &P) {
  // One fused sweep, sized for millions of tasks: a single successor CSR
  // (unsorted), Kahn's algorithm once, and start times pushed forward from
  // each finished task instead of pulled from a second, predecessor CSR.
  // The result is the same as the pull formulation: a start is the maximum
  // of its inputs' ends, and the critical predecessor is, among the inputs
  // ending last (and after 0), the previous task of the stream if it is
  // one, else the one with the smallest id -- a rule that does not depend
  // on the order inputs are seen in, so one topological order serves every
  // set of durations.
  const int32_t N = P.numTasks();
  StepSimulator S;
  S.IsCycle = cycleFlags(P);
  const std::vector<uint8_t> &IsCycle = S.IsCycle;
  S.Next = streamSuccessors(P, IsCycle);
  // Edges into or out of cycle tasks are left out: a cycle task's time is
  // bubble-fill's to choose, and a per-step task after one reads its result
  // in the next cycle (Verifier.cpp, T3), so they do not time the step. In
  // a K-FAC plan they are most of the edges.
  //
  // Offsets[T] counts, then (inclusive prefix sum) ends T's bucket; filling
  // every bucket from its end leaves it at the bucket's start, so no second
  // cursor array is needed.
  std::vector<int32_t> &Offsets = S.Offsets;
  Offsets.assign(static_cast<size_t>(N) + 1, 0);
  std::vector<int32_t> InDegree(N, 0);
  int32_t StepEdges = 0;
  for (auto [From, To] : P.Edges) {
    if (IsCycle[From] | IsCycle[To])
      continue;
    ++Offsets[From];
    ++InDegree[To];
    ++StepEdges;
  }
  for (TaskId T = 0; T < N; ++T) {
    if (T > 0)
      Offsets[T] += Offsets[T - 1];
    if (S.Next[T] != NoTask)
      ++InDegree[S.Next[T]];
  }
  Offsets[N] = StepEdges;
  S.Succs.resize(StepEdges);
  for (auto It = P.Edges.rbegin(); It != P.Edges.rend(); ++It)
    if (!(IsCycle[It->first] | IsCycle[It->second]))
      S.Succs[--Offsets[It->first]] = It->second;

  std::vector<TaskId> &Order = S.Order;
  Order.reserve(N);
  for (TaskId T = 0; T < N; ++T)
    if (InDegree[T] == 0)
      Order.push_back(T);
  for (size_t Head = 0; Head < Order.size(); ++Head) {
    const TaskId T = Order[Head];
    for (int32_t I = Offsets[T], E = Offsets[T + 1]; I < E; ++I)
      if (--InDegree[S.Succs[I]] == 0)
        Order.push_back(S.Succs[I]);
    if (S.Next[T] != NoTask && --InDegree[S.Next[T]] == 0)
      Order.push_back(S.Next[T]);
  }
  if (static_cast<int32_t>(Order.size()) < N) {
    std::vector<TaskId> Stuck;
    for (TaskId T = 0; T < N; ++T)
      if (InDegree[T] > 0)
        Stuck.push_back(T);
    const Task &T = P.Tasks[Stuck.front()];
    return llvm::make_error<UserError>(
        fmt::format("pfc: error: deadlock: {} tasks can never start, the first is task {} ({} "
                    "stage {} micro-batch {} on device {})",
                    Stuck.size(), Stuck.front(), taskKindName(T.Kind), T.Stage, T.Microbatch,
                    T.Device),
        ExitVerifyFailed);
  }
  return S;
}

void StepSimulator::run(Program &P) const {
  const int32_t N = P.numTasks();
  // Durations are copied out first, sequentially: at a million tasks a
  // random-order read of a 64-byte Task is a cache miss.
  std::vector<double> Duration(N);
  for (TaskId T = 0; T < N; ++T)
    Duration[T] = P.Tasks[T].DurationMs;
  std::vector<double> Start(N, 0), End(N, 0);
  std::vector<TaskId> Critical(N, NoTask); // the input that set the start
  auto Relax = [&](TaskId S, TaskId T, double EndT) {
    double &StartS = Start[S];
    TaskId &By = Critical[S];
    if (EndT > StartS) {
      StartS = EndT;
      By = T;
    } else if (EndT == StartS && EndT > 0 && Next[By] != S && (Next[T] == S || T < By)) {
      By = T;
    }
  };
  for (TaskId T : Order) {
    const double EndT = Start[T] + Duration[T];
    End[T] = EndT;
    for (int32_t I = Offsets[T], E = Offsets[T + 1]; I < E; ++I)
      Relax(Succs[I], T, EndT);
    if (Next[T] != NoTask)
      Relax(Next[T], T, EndT);
  }
  std::vector<double>().swap(Duration);

  Timing &Time = P.Time;
  Time = Timing{};
  Time.Start = std::move(Start);
  Time.End = std::move(End);

  TaskId Last = NoTask;
  for (TaskId T = 0; T < N; ++T)
    if (!IsCycle[T] && (Last == NoTask || Time.End[T] > Time.End[Last]))
      Last = T;
  Time.StepTimeMs = Last == NoTask ? 0 : Time.End[Last];
  for (TaskId T = Last; T != NoTask; T = Critical[T])
    Time.CriticalPath.push_back(T);
  std::reverse(Time.CriticalPath.begin(), Time.CriticalPath.end());
  Time.Simulated = true;

  P.Stats.resize(P.numDevices());
  for (DeviceStats &S : P.Stats)
    S.BusyMs = 0;
  for (TaskId T = 0; T < N; ++T)
    if (P.Tasks[T].Stream == proto::COMPUTE && !IsCycle[T])
      P.Stats[P.Tasks[T].Device].BusyMs += P.Tasks[T].DurationMs;
  double IdleShare = 0;
  for (DeviceStats &S : P.Stats) {
    S.IdleMs = Time.StepTimeMs - S.BusyMs;
    IdleShare += Time.StepTimeMs > 0 ? S.IdleMs / Time.StepTimeMs : 0;
  }
  Time.BubbleFraction = P.numDevices() ? IdleShare / P.numDevices() : 0;
}

double StepSimulator::stepTimeWithout(const Program &P, TaskKind Free) const {
  const int32_t N = P.numTasks();
  std::vector<double> Duration(N);
  for (TaskId T = 0; T < N; ++T)
    Duration[T] = P.Tasks[T].Kind == Free ? 0 : P.Tasks[T].DurationMs;
  std::vector<double> Start(N, 0);
  double Step = 0;
  for (TaskId T : Order) {
    const double EndT = Start[T] + Duration[T];
    if (!IsCycle[T])
      Step = std::max(Step, EndT);
    for (int32_t I = Offsets[T], E = Offsets[T + 1]; I < E; ++I)
      Start[Succs[I]] = std::max(Start[Succs[I]], EndT);
    if (Next[T] != NoTask)
      Start[Next[T]] = std::max(Start[Next[T]], EndT);
  }
  return Step;
}

llvm::Error simulateProgram(Program &P) {
  llvm::Expected<StepSimulator> Sim = StepSimulator::create(P);
  if (!Sim)
    return Sim.takeError();
  Sim->run(P);
  return llvm::Error::success();
}

} // namespace pfc
