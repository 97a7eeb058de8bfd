//===- VerifyGraph.cpp - send/recv matching and deadlock freedom -----------===//
//
// Invariants C1, C2, D1 and D2 of Verifier.cpp. The deadlock check is
// Kahn's algorithm over dependency edges plus stream order, O(tasks +
// edges); it lives here rather than reusing the simulator's topological
// order because the ir library must not depend on passes. It runs once with
// the copies of each per-step collective held back until all of them are
// ready (a rendezvous, D2): merging only adds constraints, so when that
// succeeds D1 holds too; when it fails, a plain run tells D1's cycle from
// D2's disagreement. On a D1 deadlock it names a cycle: every task that can
// never start has a predecessor that can never start either, so walking
// back from one must close a cycle.
//
//===----------------------------------------------------------------------===//
#include "VerifierImpl.h"

#include <algorithm>
#include <map>
#include <tuple>

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
  std::vector<int32_t> BaseInDegree(N, 0), SuccBegin(N + 1, 0);
  std::vector<TaskId> Succs(Preds.Targets.size());
  for (TaskId From : Preds.Targets)
    ++SuccBegin[From + 1];
  for (TaskId T = 0; T < N; ++T) {
    SuccBegin[T + 1] += SuccBegin[T];
    BaseInDegree[T] += Preds.Offsets[T + 1] - Preds.Offsets[T];
    if (Next[T] != NoTask)
      ++BaseInDegree[Next[T]];
  }
  {
    std::vector<int32_t> Fill(SuccBegin.begin(), SuccBegin.end() - 1);
    for (TaskId To = 0; To < N; ++To)
      for (TaskId From : Preds.of(To))
        Succs[Fill[From]++] = To;
  }

  // D2 groups: the copies of a per-step collective are the tasks of its
  // kind, on the collective streams of different devices, of stages holding
  // the same layers, the k-th such task of each stream (ZeRO-3 gathers a
  // stage several times a step).
  std::vector<int32_t> Group(N, -1);
  std::vector<std::vector<TaskId>> Members;
  {
    std::map<std::tuple<int32_t, int32_t, int32_t, int32_t>, int32_t> Ids;
    for (int32_t D = 0; D < P.numDevices(); ++D) {
      std::map<std::tuple<int32_t, int32_t, int32_t>, int32_t> Seen;
      for (TaskId T : P.stream(D, proto::COLLECTIVE)) {
        const Task &Tk = P.Tasks[T];
        if (isCycle(T) || Tk.Stage < 0)
          continue;
        const Stage &St = P.Stages[Tk.Stage];
        const int32_t K = Seen[{Tk.Kind, St.LayerBegin, St.LayerEnd}]++;
        auto [It, New] = Ids.try_emplace({Tk.Kind, St.LayerBegin, St.LayerEnd, K},
                                         static_cast<int32_t>(Members.size()));
        if (New)
          Members.emplace_back();
        Members[It->second].push_back(T);
        Group[T] = It->second;
      }
    }
    for (TaskId T = 0; T < N; ++T)
      if (Group[T] >= 0 && Members[Group[T]].size() < 2)
        Group[T] = -1;
  }

  std::vector<int32_t> InDegree;
  std::vector<TaskId> Ready;
  Ready.reserve(N);
  std::vector<int32_t> GroupReady(Members.size(), 0);
  auto Kahn = [&](bool Rendezvous) {
    InDegree = BaseInDegree;
    Ready.clear();
    std::fill(GroupReady.begin(), GroupReady.end(), 0);
    auto Free = [&](TaskId T) {
      const int32_t G = Rendezvous ? Group[T] : -1;
      if (G < 0)
        Ready.push_back(T);
      else if (++GroupReady[G] == static_cast<int32_t>(Members[G].size()))
        Ready.insert(Ready.end(), Members[G].begin(), Members[G].end());
    };
    for (TaskId T = 0; T < N; ++T)
      if (InDegree[T] == 0)
        Free(T);
    for (size_t Head = 0; Head < Ready.size(); ++Head) {
      TaskId T = Ready[Head];
      for (int32_t I = SuccBegin[T]; I < SuccBegin[T + 1]; ++I)
        if (--InDegree[Succs[I]] == 0)
          Free(Succs[I]);
      if (Next[T] != NoTask && --InDegree[Next[T]] == 0)
        Free(Next[T]);
    }
    return static_cast<int32_t>(Ready.size()) == N;
  };
  const bool AnyGroup = std::any_of(Group.begin(), Group.end(), [](int32_t G) { return G >= 0; });
  if (Kahn(AnyGroup))
    return llvm::Error::success();
  if (AnyGroup && Kahn(false)) {
    // D2: name a collective some of whose copies are ready (they wait at the
    // head of their streams) while another is not, and what holds it.
    Kahn(true);
    std::vector<char> Done(N, 0);
    for (TaskId T : Ready)
      Done[T] = 1;
    for (const std::vector<TaskId> &G : Members) {
      auto Waiting = std::find_if(G.begin(), G.end(), [&](TaskId T) { return InDegree[T] == 0; });
      auto Held = std::find_if(G.begin(), G.end(), [&](TaskId T) { return InDegree[T] > 0; });
      if (G.size() < 2 || Done[G.front()] || Waiting == G.end() || Held == G.end())
        continue;
      TaskId Behind = NoTask;
      for (TaskId Q : Preds.of(*Held))
        if (!Done[Q]) {
          Behind = Q;
          break;
        }
      if (Behind == NoTask)
        for (TaskId Q = 0; Q < N; ++Q)
          if (Next[Q] == *Held) {
            Behind = Q;
            break;
          }
      return report(Invariant::Deadlock,
                    fmt::format("the copies of a collective never meet: {} is ready, but its "
                                "copy {} never is (it waits for {}); devices must run the "
                                "collectives they share in one order",
                                describe(*Waiting), describe(*Held), describe(Behind)));
    }
    return report(Invariant::Deadlock,
                  fmt::format("the copies of some collective never all become ready ({} tasks "
                              "can never start); devices must run their collectives in one order",
                              N - static_cast<int32_t>(Ready.size())));
  }

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
