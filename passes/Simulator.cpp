//===- Simulator.cpp - event-driven timing of a program --------------------===//
#include "Simulator.h"

#include "ir/Diagnostics.h"

#include <algorithm>

namespace pfc {

namespace {
/// Next per-step task in the same stream, or NoTask. K-FAC cycle tasks are
/// left out of the stream chains: they belong to one step of the cycle and
/// are timed by bubble-fill, not by the per-step simulation.
std::vector<TaskId> streamSuccessors(const Program &P) {
  std::vector<TaskId> Next(P.numTasks(), NoTask);
  for (const auto &S : P.Streams) {
    TaskId Last = NoTask;
    for (TaskId T : S) {
      if (isCycleTask(P.Tasks[T].Kind))
        continue;
      if (Last != NoTask)
        Next[Last] = T;
      Last = T;
    }
  }
  return Next;
}
} // namespace

TopoResult topologicalOrder(const Program &P, const Adjacency &Succs) {
  const int32_t N = P.numTasks();
  std::vector<TaskId> Next = streamSuccessors(P);
  std::vector<int32_t> InDegree(N, 0);
  for (auto [From, To] : P.Edges)
    ++InDegree[To];
  for (TaskId T = 0; T < N; ++T)
    if (Next[T] != NoTask)
      ++InDegree[Next[T]];
  TopoResult R;
  R.Order.reserve(N);
  for (TaskId T = 0; T < N; ++T)
    if (InDegree[T] == 0)
      R.Order.push_back(T);
  for (size_t Head = 0; Head < R.Order.size(); ++Head) {
    TaskId T = R.Order[Head];
    for (TaskId S : Succs.of(T))
      if (--InDegree[S] == 0)
        R.Order.push_back(S);
    if (Next[T] != NoTask && --InDegree[Next[T]] == 0)
      R.Order.push_back(Next[T]);
  }
  if (static_cast<int32_t>(R.Order.size()) < N)
    for (TaskId T = 0; T < N; ++T)
      if (InDegree[T] > 0)
        R.Stuck.push_back(T);
  return R;
}

llvm::Error simulateProgram(Program &P) {
  const int32_t N = P.numTasks();
  Adjacency Preds = P.predecessors();
  Adjacency Succs = P.successors();
  TopoResult Topo = topologicalOrder(P, Succs);
  if (!Topo.Stuck.empty()) {
    const Task &T = P.Tasks[Topo.Stuck.front()];
    return llvm::make_error<UserError>(
        fmt::format("pfc: error: deadlock: {} tasks can never start, the first is task {} ({} "
                    "stage {} micro-batch {} on device {})",
                    Topo.Stuck.size(), Topo.Stuck.front(), taskKindName(T.Kind), T.Stage,
                    T.Microbatch, T.Device),
        ExitVerifyFailed);
  }
  std::vector<TaskId> Prev(N, NoTask);
  {
    std::vector<TaskId> Next = streamSuccessors(P);
    for (TaskId T = 0; T < N; ++T)
      if (Next[T] != NoTask)
        Prev[Next[T]] = T;
  }

  Timing &Time = P.Time;
  Time = Timing{};
  Time.Start.assign(N, 0);
  Time.End.assign(N, 0);
  std::vector<TaskId> Critical(N, NoTask); // the predecessor that set the start
  for (TaskId T : Topo.Order) {
    double Start = 0;
    TaskId By = NoTask;
    auto Consider = [&](TaskId Q) {
      if (Q != NoTask && Time.End[Q] > Start) {
        Start = Time.End[Q];
        By = Q;
      }
    };
    Consider(Prev[T]);
    for (TaskId Q : Preds.of(T))
      Consider(Q);
    Time.Start[T] = Start;
    Time.End[T] = Start + P.Tasks[T].DurationMs;
    Critical[T] = By;
  }
  TaskId Last = NoTask;
  for (TaskId T = 0; T < N; ++T)
    if (!isCycleTask(P.Tasks[T].Kind) && (Last == NoTask || Time.End[T] > Time.End[Last]))
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
    if (P.Tasks[T].Stream == proto::COMPUTE && !isCycleTask(P.Tasks[T].Kind))
      P.Stats[P.Tasks[T].Device].BusyMs += P.Tasks[T].DurationMs;
  double IdleShare = 0;
  for (DeviceStats &S : P.Stats) {
    S.IdleMs = Time.StepTimeMs - S.BusyMs;
    IdleShare += Time.StepTimeMs > 0 ? S.IdleMs / Time.StepTimeMs : 0;
  }
  Time.BubbleFraction = P.numDevices() ? IdleShare / P.numDevices() : 0;
  return llvm::Error::success();
}

} // namespace pfc
