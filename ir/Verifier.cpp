//===- Verifier.cpp - plan invariants --------------------------------------===//
//
// The invariants a runtime relies on, checked in this order. The first one
// violated is reported, through Checker::report, as
//   pfc: error: verify: <invariant>: <details naming the lowest task id>
// with exit code ExitVerifyFailed. They hold for partial programs as well:
// after partition there are no tasks; after a schedule pass cross-device
// edges are still direct; insert-comm adds the send/receive pairs later.
//
// structure (this file)
//   S1. Streams holds NumStreams lists per device; Stats is empty or has one
//       entry per device; simulated timings have a start and end per task.
//   S2. Every stage is on a device in range, its pipeline and position lie in
//       [0, #stages), and each pipeline 0..P-1 holds positions 0..L-1 once,
//       over layers [begin, end) in ascending order, none empty, within the
//       model's num_layers + 2 (embedding, blocks, head).
//   S3. Every task has a known kind, a device in range, a stage of -1 or in
//       range (F and B: in range) and then runs on that stage's device, a
//       peer of -1 or another task, a finite duration >= 0, a cycle step and
//       data lag >= 0 (both 0 unless a K-FAC cycle task), a piece >= 0, a
//       layer count >= 1 (> 1 only for curvature and factor all-reduce),
//       the blocks of a cycle task within its stage's, and the stream of
//       its kind (defaultStream).
//   S4. Every task is in exactly one stream: its own device's, of its kind.
//   S5. Every dependency edge joins two different tasks in range.
// send/recv (VerifyGraph.cpp)
//   C1. Only sends and receives have a peer. A send-X's peer is a recv-X on
//       another device whose peer is the send, with equal bytes, and the
//       receive depends on the send; a receive's peer is such a send.
//   C2. Once any send or receive exists (after insert-comm), no dependency
//       edge crosses devices except a send -> its receive.
// deadlock (VerifyGraph.cpp)
//   D1. Dependencies plus stream order (consecutive per-step tasks of a
//       stream) are acyclic, so every task can start. Cycle tasks are ordered
//       by their dependencies only, as the simulator does: their place in a
//       stream list does not say in which step of the cycle they run.
//   D2. D1 still holds when the copies of each per-step collective start
//       together (a rendezvous, as NCCL's collectives behave): copies are
//       the tasks of one kind on the collective streams of stages holding
//       the same layers, the k-th of each stream. So devices run the
//       collectives they share in one order.
// pipeline coverage (VerifyPipeline.cpp; once the program has tasks)
//   P1. options.microbatches N >= 1; every F and B has a micro-batch in [0, N).
//   P2. Every micro-batch runs through exactly one pipeline (Chimera splits
//       them between two), and every stage of that pipeline has exactly one
//       F and one B of it.
// data dependency (VerifyPipeline.cpp)
//   R1. F(s,m) depends on F(prev(s),m), B(s,m) on B(next(s),m) and
//       B(last,m) on F(last,m): directly, or through a send -> recv pair
//       (producer -> send, send -> recv, recv -> consumer) of activations
//       when the producer is a forward, of gradients when a backward.
//   R2. B(s,m) runs after F(s,m): implied by R1, F(s) -> .. -> F(last) ->
//       B(last) -> .. -> B(s), and D1, so not checked on its own.
// timing (VerifyTiming.cpp; when simulated. T: step time, k: cycle steps)
//   T1. Every timed task: start >= 0 and end = start + duration.
//   T2. Per-step tasks: end <= T; start >= the end of every per-step
//       dependency and of the previous per-step task of its stream.
//   T3. Cycle tasks, once placed (report.kfac.refresh_steps == k > 0; the
//       simulator alone leaves them untimed): cycle step t in [0, k); start
//       within step t, i.e. in [tT, (t+1)T]; end <= kT; after a per-step
//       dependency X, start >= X.end + (t - l)T, l the task's data lag (it
//       uses the data of step t - l; -1 is the previous cycle's last step);
//       after a cycle dependency X, start >= X.end. A per-step task after a
//       cycle task reads its result in the next cycle: nothing to check.
//   T4. One task at a time per stream over the whole cycle: a cycle task
//       overlaps neither another cycle task nor any step's instance of a
//       per-step task on its stream.
//   T5. Factor all-reduces of the same block on two devices (Chimera's two
//       copies) are one collective: equal cycle step and start, so every
//       device meets its collectives in one order.
//   Comparisons allow 1e-6 ms + 1e-9 kT.
// memory capacity (VerifyTiming.cpp; when Stats holds the memory results)
//   M1. Peak memory <= capacity on every device whose capacity is known
//       (> 0): a warning saying by how much, an error with MemoryIsError.
//
// Cost: O(tasks + edges), plus sorting the predecessor lists, and the cycle
// tasks of a stream when a counting sort by step leaves them out of order.
//
//===----------------------------------------------------------------------===//
#include "Verifier.h"

#include "Diagnostics.h"
#include "VerifierImpl.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace pfc {
namespace verifier {

static const char *invariantName(Invariant I) {
  switch (I) {
  case Invariant::Structure:
    return "structure";
  case Invariant::SendRecv:
    return "send/recv";
  case Invariant::Deadlock:
    return "deadlock";
  case Invariant::Coverage:
    return "pipeline coverage";
  case Invariant::Dependency:
    return "data dependency";
  case Invariant::Timing:
    return "timing";
  case Invariant::Memory:
    return "memory capacity";
  }
  return "?";
}

llvm::Error Checker::report(Invariant I, std::string Details, bool IsWarning) {
  std::string Msg = fmt::format("pfc: {}: verify: {}: {}", IsWarning ? "warning" : "error",
                                invariantName(I), Details);
  if (!IsWarning)
    return llvm::make_error<UserError>(std::move(Msg), ExitVerifyFailed);
  if (Warnings)
    Warnings->push_back(std::move(Msg));
  return llvm::Error::success();
}

std::string Checker::describe(TaskId T) const {
  const Task &Tk = P.Tasks[T];
  std::string_view Kind = taskKindName(Tk.Kind);
  std::string S = Kind == "?" ? fmt::format("task {} (kind {}", T, static_cast<int>(Tk.Kind))
                              : fmt::format("task {} ({}", T, Kind);
  if (Tk.Stage >= 0)
    S += fmt::format(" stage {}", Tk.Stage);
  if (Tk.Layer >= 0)
    S += Tk.LayerCount > 1 ? fmt::format(" layers {}-{}", Tk.Layer, Tk.Layer + Tk.LayerCount - 1)
                           : fmt::format(" layer {}", Tk.Layer);
  if (Tk.Microbatch >= 0)
    S += fmt::format(" micro-batch {}", Tk.Microbatch);
  if (Tk.Piece > 0)
    S += fmt::format(" piece {}", Tk.Piece);
  if (isCycleTask(Tk.Kind))
    S += fmt::format(" cycle step {}", Tk.CycleStep);
  S += fmt::format(" on device {})", Tk.Device);
  return S;
}

bool Checker::hasEdge(TaskId From, TaskId To) const {
  auto In = Preds.of(To);
  return std::binary_search(In.begin(), In.end(), From);
}

llvm::Error Checker::checkStructure() {
  const int32_t NumDevices = P.numDevices(), NumStages = P.numStages(), N = P.numTasks();
  auto Fail = [&](std::string Details) { return report(Invariant::Structure, Details); };

  // S1.
  if (P.Streams.size() != static_cast<size_t>(NumDevices) * NumStreams)
    return Fail(fmt::format("{} stream lists for {} devices, expected {}", P.Streams.size(),
                            NumDevices, NumDevices * NumStreams));
  if (!P.Stats.empty() && P.Stats.size() != static_cast<size_t>(NumDevices))
    return Fail(
        fmt::format("device results for {} devices, the plan has {}", P.Stats.size(), NumDevices));
  if (P.Time.Simulated && (P.Time.Start.size() != static_cast<size_t>(N) ||
                           P.Time.End.size() != static_cast<size_t>(N)))
    return Fail(fmt::format("simulated, but {} start and {} end times for {} tasks",
                            P.Time.Start.size(), P.Time.End.size(), N));

  // S2.
  std::vector<int32_t> LineSize;
  for (int32_t S = 0; S < NumStages; ++S) {
    const Stage &St = P.Stages[S];
    if (St.Device < 0 || St.Device >= NumDevices)
      return Fail(
          fmt::format("stage {} is on device {}, not in [0, {})", S, St.Device, NumDevices));
    if (St.Pipeline < 0 || St.Pipeline >= NumStages || St.Position < 0 || St.Position >= NumStages)
      return Fail(fmt::format("stage {} has pipeline {} position {}, not in [0, {})", S,
                              St.Pipeline, St.Position, NumStages));
    if (static_cast<int32_t>(LineSize.size()) <= St.Pipeline)
      LineSize.resize(St.Pipeline + 1, 0);
    ++LineSize[St.Pipeline];
  }
  Lines.assign(LineSize.size(), {});
  for (size_t L = 0; L < LineSize.size(); ++L) {
    if (LineSize[L] == 0)
      return Fail(
          fmt::format("pipeline {} has no stage, but pipeline {} exists", L, LineSize.size() - 1));
    Lines[L].assign(LineSize[L], -1);
  }
  for (int32_t S = 0; S < NumStages; ++S) {
    const Stage &St = P.Stages[S];
    auto &Line = Lines[St.Pipeline];
    if (St.Position >= static_cast<int32_t>(Line.size()))
      continue; // some lower position is then missing: reported below
    if (Line[St.Position] != -1)
      return Fail(fmt::format("stages {} and {} are both at position {} of pipeline {}",
                              Line[St.Position], S, St.Position, St.Pipeline));
    Line[St.Position] = S;
  }
  for (size_t L = 0; L < Lines.size(); ++L)
    for (size_t Pos = 0; Pos < Lines[L].size(); ++Pos)
      if (Lines[L][Pos] == -1)
        return Fail(fmt::format("pipeline {} has {} stages but none at position {}", L,
                                Lines[L].size(), Pos));
  const int32_t Layers = P.Model.num_layers() + 2; // embedding, blocks, head
  for (size_t L = 0; L < Lines.size(); ++L)
    for (size_t Pos = 0, Next = 0; Pos < Lines[L].size(); ++Pos) {
      const Stage &St = P.Stages[Lines[L][Pos]];
      if (St.LayerBegin < static_cast<int32_t>(Next) || St.LayerEnd <= St.LayerBegin ||
          St.LayerEnd > Layers)
        return Fail(fmt::format(
            "stage {} (pipeline {} position {}) holds layers [{}, {}); a stage holds at least "
            "one of the model's {} layers (embedding, {} blocks, head){}",
            Lines[L][Pos], L, Pos, St.LayerBegin, St.LayerEnd, Layers, P.Model.num_layers(),
            Pos > 0 ? fmt::format(", from layer {} on (where position {} ends)", Next, Pos - 1)
                    : ""));
      Next = static_cast<size_t>(St.LayerEnd);
    }

  // S3. Also the compact per-task attributes the later checks use, and the
  // lane (device stream) of every task for S4, which reads it in stream
  // order: at random, so from a dense array rather than 64-byte Tasks.
  // What each kind implies, looked up once per kind rather than per task.
  struct KindInfo {
    bool Known = false, Cycle = false;
    StreamKind Stream = proto::COMPUTE;
  };
  std::array<KindInfo, proto::TaskKind_ARRAYSIZE> Kinds{};
  for (int K = 0; K < proto::TaskKind_ARRAYSIZE; ++K)
    if (K != proto::TASK_KIND_UNSPECIFIED && proto::TaskKind_IsValid(K))
      Kinds[K] = {true, isCycleTask(static_cast<TaskKind>(K)),
                  defaultStream(static_cast<TaskKind>(K))};
  std::vector<int32_t> LaneOf(N);
  Class.assign(N, 0);
  DeviceOf.resize(N);
  for (TaskId T = 0; T < N; ++T) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Kind < 0 || Tk.Kind >= proto::TaskKind_ARRAYSIZE || !Kinds[Tk.Kind].Known)
      return Fail(fmt::format("{} has no known kind", describe(T)));
    const KindInfo &Kind = Kinds[Tk.Kind];
    if (Tk.Device < 0 || Tk.Device >= NumDevices)
      return Fail(fmt::format("{} is on a device not in [0, {})", describe(T), NumDevices));
    bool NeedsStage = Tk.Kind == proto::FORWARD || Tk.Kind == proto::BACKWARD;
    if (Tk.Stage < (NeedsStage ? 0 : -1) || Tk.Stage >= NumStages)
      return Fail(fmt::format("{} has stage {}, not {}in [0, {})", describe(T), Tk.Stage,
                              NeedsStage ? "" : "-1 or ", NumStages));
    if (Tk.Stage >= 0 && P.Stages[Tk.Stage].Device != Tk.Device)
      return Fail(fmt::format("{} is not on device {} of its stage", describe(T),
                              P.Stages[Tk.Stage].Device));
    if (Tk.Peer < -1 || Tk.Peer >= N || Tk.Peer == T)
      return Fail(fmt::format("{} has peer {}, not -1 or another task", describe(T), Tk.Peer));
    if (!std::isfinite(Tk.DurationMs) || Tk.DurationMs < 0)
      return Fail(
          fmt::format("{} has duration {} ms, not finite and >= 0", describe(T), Tk.DurationMs));
    if (Tk.CycleStep < 0 || Tk.DataLag < 0 ||
        (!Kind.Cycle && (Tk.CycleStep != 0 || Tk.DataLag != 0)))
      return Fail(fmt::format("{} has cycle step {} and data lag {}; {}", describe(T), Tk.CycleStep,
                              Tk.DataLag,
                              Kind.Cycle ? "they must be >= 0" : "per-step tasks have 0 and 0"));
    if (Tk.Piece < 0 || Tk.LayerCount < 1 ||
        (Tk.LayerCount > 1 && Tk.Kind != proto::CURVATURE_A && Tk.Kind != proto::CURVATURE_B &&
         Tk.Kind != proto::FACTOR_ALL_REDUCE))
      return Fail(fmt::format("{} has piece {} and layer count {}; pieces are >= 0 and only "
                              "curvature tasks and factor all-reduces cover more than one block",
                              describe(T), Tk.Piece, Tk.LayerCount));
    if (Kind.Cycle && Tk.Layer >= 0 && Tk.Stage >= 0) {
      const Stage &St = P.Stages[Tk.Stage];
      const int32_t First = std::max(1, St.LayerBegin);
      const int32_t Last = std::min(P.Model.num_layers(), St.LayerEnd - 1);
      if (Tk.Layer < First || Tk.Layer + Tk.LayerCount - 1 > Last)
        return Fail(fmt::format("{} works on blocks outside its stage's blocks {}-{}", describe(T),
                                First, Last));
    }
    if (Tk.Stream != Kind.Stream)
      return Fail(fmt::format("{} is on the {} stream; a {} runs on the {} stream", describe(T),
                              streamName(Tk.Stream), taskKindName(Tk.Kind),
                              streamName(Kind.Stream)));
    LaneOf[T] = Tk.Device * NumStreams + Tk.Stream;
    DeviceOf[T] = Tk.Device;
    Class[T] = (Kind.Cycle ? CycleTask : 0) | (Tk.Stream == proto::SEND ? SendTask : 0) |
               (Tk.Stream == proto::RECV ? RecvTask : 0);
    HasComm |= (Class[T] & (SendTask | RecvTask)) != 0;
  }

  // S4.
  std::vector<char> Placed(N, 0);
  for (int32_t D = 0; D < NumDevices; ++D)
    for (int S = 0; S < NumStreams; ++S) {
      for (TaskId T : P.stream(D, static_cast<StreamKind>(S))) {
        auto Here = [&] {
          return fmt::format("the {} stream of device {}", streamName(static_cast<StreamKind>(S)),
                             D);
        };
        if (T < 0 || T >= N)
          return Fail(fmt::format("{} lists task {}, not in [0, {})", Here(), T, N));
        if (LaneOf[T] != D * NumStreams + S)
          return Fail(fmt::format("{} lists {}, which runs on the {} stream of device {}", Here(),
                                  describe(T), streamName(P.Tasks[T].Stream), P.Tasks[T].Device));
        if (Placed[T]++)
          return Fail(fmt::format("{} lists {} twice", Here(), describe(T)));
      }
    }
  for (TaskId T = 0; T < N; ++T)
    if (!Placed[T])
      return Fail(fmt::format("{} is in no stream", describe(T)));

  // S5.
  for (auto [From, To] : P.Edges)
    if (From < 0 || From >= N || To < 0 || To >= N || From == To)
      return Fail(
          fmt::format("dependency edge {} -> {} does not join two tasks in [0, {})", From, To, N));
  Preds = P.predecessors();
  return llvm::Error::success();
}

} // namespace verifier

llvm::Error verifyProgram(const Program &P, const VerifyOptions &Opts,
                          std::vector<std::string> *Warnings) {
  verifier::Checker C(P, Opts, Warnings);
  for (auto Check : {&verifier::Checker::checkStructure, &verifier::Checker::checkSendRecv,
                     &verifier::Checker::checkDeadlock, &verifier::Checker::checkCoverage,
                     &verifier::Checker::checkDependencies, &verifier::Checker::checkTiming,
                     &verifier::Checker::checkMemory})
    if (llvm::Error E = (C.*Check)())
      return E;
  return llvm::Error::success();
}

} // namespace pfc
