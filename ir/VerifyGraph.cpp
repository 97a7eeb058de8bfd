//===- VerifyGraph.cpp - send/recv matching and deadlock freedom -----------===//
//
// Invariants C1, C2 and D1 of Verifier.cpp. The deadlock check is Kahn's
// algorithm over dependency edges plus stream order, O(tasks + edges); it
// lives here rather than reusing the simulator's topological order because
// the ir library must not depend on passes. On a deadlock it names a cycle:
// every task that can never start has a predecessor that can never start
// either, so walking back from one must close a cycle.
//
//===----------------------------------------------------------------------===//
#include "VerifierImpl.h"

#include <algorithm>

namespace pfc::verifier {

namespace {
bool isSend(TaskKind K) { return defaultStream(K) == proto::SEND; }
bool isRecv(TaskKind K) { return defaultStream(K) == proto::RECV; }

/// The kind of the other end of a send or receive.
TaskKind peerKind(TaskKind K) {
  switch (K) {
  case proto::SEND_ACTIVATION:
    return proto::RECV_ACTIVATION;
  case proto::RECV_ACTIVATION:
    return proto::SEND_ACTIVATION;
  case proto::SEND_GRADIENT:
    return proto::RECV_GRADIENT;
  case proto::RECV_GRADIENT:
    return proto::SEND_GRADIENT;
  default:
    return proto::TASK_KIND_UNSPECIFIED;
  }
}

} // namespace

llvm::Error Checker::checkSendRecv() {
  const int32_t N = P.numTasks();
  auto Fail = [&](std::string Details) { return report(Invariant::SendRecv, Details); };
  // C1.
  for (TaskId T = 0; T < N; ++T) {
    const Task &Tk = P.Tasks[T];
    if (!isSend(Tk.Kind) && !isRecv(Tk.Kind)) {
      if (Tk.Peer != NoTask)
        return Fail(fmt::format("{} has peer task {}; only sends and receives have a peer",
                                describe(T), Tk.Peer));
      continue;
    }
    TaskKind Want = peerKind(Tk.Kind);
    if (Tk.Peer == NoTask)
      return Fail(fmt::format("{} has no peer {}", describe(T), taskKindName(Want)));
    TaskId Q = Tk.Peer;
    const Task &Pk = P.Tasks[Q];
    if (Pk.Kind != Want)
      return Fail(fmt::format("the peer of {} is {}, not a {}", describe(T), describe(Q),
                              taskKindName(Want)));
    if (Pk.Peer != T)
      return Fail(fmt::format("the peer of {} is {}, whose peer is task {}", describe(T),
                              describe(Q), Pk.Peer));
    if (Pk.Device == Tk.Device)
      return Fail(
          fmt::format("{} and its peer {} are on the same device", describe(T), describe(Q)));
    if (Pk.Bytes != Tk.Bytes)
      return Fail(fmt::format("{} moves {} bytes, its peer {} {}", describe(T), Tk.Bytes,
                              describe(Q), Pk.Bytes));
    TaskId Send = isSend(Tk.Kind) ? T : Q, Recv = isSend(Tk.Kind) ? Q : T;
    if (!hasEdge(Send, Recv))
      return Fail(fmt::format("{} does not depend on its peer {}", describe(Recv), describe(Send)));
  }
  // C2.
  if (!HasComm)
    return llvm::Error::success();
  for (TaskId To = 0; To < N; ++To)
    for (TaskId From : Preds.of(To)) {
      if (DeviceOf[From] != DeviceOf[To] && !((Class[From] & SendTask) && P.Tasks[From].Peer == To))
        return Fail(fmt::format("the dependency {} -> {} crosses devices; once sends and "
                                "receives exist, only a send -> its receive may",
                                describe(From), describe(To)));
    }
  return llvm::Error::success();
}

llvm::Error Checker::checkDeadlock() {
  const int32_t N = P.numTasks();
  // Stream order: the next per-step task of each task's stream (cycle tasks
  // take no part in it, see D1).
  std::vector<TaskId> Next(N, NoTask);
  for (const auto &S : P.Streams) {
    TaskId Last = NoTask;
    for (TaskId T : S) {
      if (isCycle(T))
        continue;
      if (Last != NoTask)
        Next[Last] = T;
      Last = T;
    }
  }
  // Successors: Preds transposed (Kahn needs no sorted lists).
  std::vector<int32_t> InDegree(N, 0), SuccBegin(N + 1, 0);
  std::vector<TaskId> Succs(Preds.Targets.size());
  for (TaskId From : Preds.Targets)
    ++SuccBegin[From + 1];
  for (TaskId T = 0; T < N; ++T) {
    SuccBegin[T + 1] += SuccBegin[T];
    InDegree[T] += Preds.Offsets[T + 1] - Preds.Offsets[T];
    if (Next[T] != NoTask)
      ++InDegree[Next[T]];
  }
  {
    std::vector<int32_t> Fill(SuccBegin.begin(), SuccBegin.end() - 1);
    for (TaskId To = 0; To < N; ++To)
      for (TaskId From : Preds.of(To))
        Succs[Fill[From]++] = To;
  }
  std::vector<TaskId> Ready;
  Ready.reserve(N);
  for (TaskId T = 0; T < N; ++T)
    if (InDegree[T] == 0)
      Ready.push_back(T);
  for (size_t Head = 0; Head < Ready.size(); ++Head) {
    TaskId T = Ready[Head];
    for (int32_t I = SuccBegin[T]; I < SuccBegin[T + 1]; ++I)
      if (--InDegree[Succs[I]] == 0)
        Ready.push_back(Succs[I]);
    if (Next[T] != NoTask && --InDegree[Next[T]] == 0)
      Ready.push_back(Next[T]);
  }
  if (static_cast<int32_t>(Ready.size()) == N)
    return llvm::Error::success();

  // Stuck tasks keep InDegree > 0. Walk back from the lowest one along the
  // lowest stuck predecessor until a task repeats: that closes a cycle.
  std::vector<TaskId> Prev(N, NoTask);
  for (TaskId T = 0; T < N; ++T)
    if (Next[T] != NoTask)
      Prev[Next[T]] = T;
  TaskId V = 0;
  while (InDegree[V] == 0)
    ++V;
  std::vector<int32_t> Seen(N, -1);
  std::vector<TaskId> Path;
  while (Seen[V] == -1) {
    Seen[V] = static_cast<int32_t>(Path.size());
    Path.push_back(V);
    TaskId Best = NoTask;
    for (TaskId Q : Preds.of(V))
      if (InDegree[Q] > 0) {
        Best = Q; // sorted: the lowest
        break;
      }
    if (Prev[V] != NoTask && InDegree[Prev[V]] > 0 && (Best == NoTask || Prev[V] < Best))
      Best = Prev[V];
    V = Best;
  }
  // Path[i + 1] precedes Path[i]: reversed, the cycle runs forward.
  std::vector<TaskId> Cycle(Path.begin() + Seen[V], Path.end());
  std::reverse(Cycle.begin(), Cycle.end());
  std::rotate(Cycle.begin(), std::min_element(Cycle.begin(), Cycle.end()), Cycle.end());

  constexpr size_t Shown = 8;
  std::string Text;
  for (size_t I = 0; I < Cycle.size() && I < Shown; ++I) {
    TaskId From = Cycle[I], To = Cycle[(I + 1) % Cycle.size()];
    Text += describe(From) + (hasEdge(From, To) ? " -> " : " => ");
  }
  if (Cycle.size() > Shown)
    Text += fmt::format("... ({} more) ", Cycle.size() - Shown);
  Text += fmt::format("task {}", Cycle.front());
  return report(Invariant::Deadlock,
                fmt::format("dependencies (->) and stream order (=>) form a cycle: {}; {} tasks "
                            "can never start",
                            Text, N - static_cast<int32_t>(Ready.size())));
}

} // namespace pfc::verifier
