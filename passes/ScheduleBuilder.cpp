//===- ScheduleBuilder.cpp - shared by the schedule generators -------------===//
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

#include <cassert>

namespace pfc {

std::vector<std::vector<int32_t>> stagesByPipeline(const Program &P) {
  std::vector<std::vector<int32_t>> Result;
  for (int32_t I = 0; I < P.numStages(); ++I) {
    const Stage &S = P.Stages[I];
    if (static_cast<int32_t>(Result.size()) <= S.Pipeline)
      Result.resize(S.Pipeline + 1);
    auto &Line = Result[S.Pipeline];
    if (static_cast<int32_t>(Line.size()) <= S.Position)
      Line.resize(S.Position + 1, -1);
    Line[S.Position] = I;
  }
  return Result;
}

llvm::Error checkScheduleInputs(const Program &P, llvm::StringRef Scheme, bool AllowVirtual) {
  if (P.numStages() == 0 || P.numDevices() == 0)
    return userError("pfc: error: schedule-{} needs a partitioned program; run 'partition' "
                     "first",
                     Scheme.str());
  if (!AllowVirtual && P.Options.virtual_stages() > 1)
    return userError("pfc: error: --virtual-stages {} is not supported by the {} schedule; "
                     "use --schedule interleaved, or --virtual-stages 1",
                     P.Options.virtual_stages(), Scheme.str());
  if (P.Options.microbatches() < 1)
    return userError("pfc: error: --microbatches must be at least 1 (got {})",
                     P.Options.microbatches());
  return llvm::Error::success();
}

llvm::Error checkLoopingPlacement(const Program &P, llvm::StringRef Scheme, int32_t S,
                                  int32_t V) {
  auto Lines = stagesByPipeline(P);
  bool Ok = Lines.size() == 1 && static_cast<int32_t>(Lines[0].size()) == S * V;
  for (int32_t I = 0; Ok && I < S * V; ++I)
    Ok = Lines[0][I] >= 0 && P.Stages[Lines[0][I]].Device == I % S;
  if (!Ok)
    return userError("pfc: error: schedule-{0} needs one pipeline of {1} stages "
                     "(--stages {2} x --virtual-stages {3}) with stage i on device i mod {2}; "
                     "run 'partition' with --schedule {0} first",
                     Scheme.str(), S * V, S, V);
  return llvm::Error::success();
}

void materializeSchedule(Program &P, const DeviceOrders &Orders) {
  P.clearTasks();
  const int32_t N = P.Options.microbatches();

  // Slot of (stage, microbatch, backward?) -> task id. Ids follow the device
  // orders, so the slots are known before any task exists.
  std::vector<TaskId> Slot(static_cast<size_t>(P.numStages()) * N * 2, NoTask);
  auto SlotOf = [&](int32_t Stage, int32_t Mb, bool Bwd) -> TaskId & {
    return Slot[(static_cast<size_t>(Stage) * N + Mb) * 2 + Bwd];
  };
  TaskId Next = 0;
  for (const auto &Order : Orders)
    for (const ComputeOp &Op : Order)
      SlotOf(Op.Stage, Op.Microbatch, Op.Backward) = Next++;

  // Size the task, edge and stream vectors once, for this pass and for what
  // insert-comm (a send and a receive per cross-device edge) and dp-sync (an
  // all-reduce and an optimizer step per stage) add: at a million tasks,
  // growing them by doubling copies tens of MiB and faults in pages twice.
  auto Lines = stagesByPipeline(P);
  size_t NumEdges = 0, NumCross = 0;
  for (const auto &Line : Lines) {
    const int32_t Len = static_cast<int32_t>(Line.size());
    size_t Runs = 0;
    for (int32_t Mb = 0; Mb < N; ++Mb)
      Runs += SlotOf(Line[0], Mb, false) != NoTask;
    size_t CrossPairs = 0;
    for (int32_t Pos = 0; Pos + 1 < Len; ++Pos)
      CrossPairs += P.Stages[Line[Pos]].Device != P.Stages[Line[Pos + 1]].Device;
    NumEdges += Runs * (3 * static_cast<size_t>(Len) - 2);
    NumCross += Runs * 2 * CrossPairs;
  }
  const size_t PerStage = 2 * static_cast<size_t>(P.numStages());
  P.Tasks.reserve(static_cast<size_t>(Next) + 2 * NumCross + PerStage);
  P.Edges.reserve(NumEdges + 2 * NumCross + PerStage);
  std::vector<size_t> StagesOn(P.numDevices(), 0);
  for (const Stage &S : P.Stages)
    ++StagesOn[S.Device];
  for (int32_t D = 0; D < static_cast<int32_t>(Orders.size()); ++D)
    P.stream(D, proto::COMPUTE).reserve(Orders[D].size() + StagesOn[D]);

  for (int32_t D = 0; D < static_cast<int32_t>(Orders.size()); ++D)
    for (const ComputeOp &Op : Orders[D]) {
      const Stage &S = P.Stages[Op.Stage];
      Task T;
      T.Kind = Op.Backward ? proto::BACKWARD : proto::FORWARD;
      T.Stream = proto::COMPUTE;
      T.Device = D;
      T.Stage = Op.Stage;
      T.Microbatch = Op.Microbatch;
      T.DurationMs = Op.Backward ? S.BackwardMs : S.ForwardMs;
      T.MemoryDelta = Op.Backward ? -S.ActivationBytes : S.ActivationBytes;
      [[maybe_unused]] TaskId Id = P.addTask(T);
      assert(Id == SlotOf(Op.Stage, Op.Microbatch, Op.Backward) && "slot ids out of step");
    }

  for (const auto &Line : Lines) {
    const int32_t Len = static_cast<int32_t>(Line.size());
    for (int32_t Mb = 0; Mb < N; ++Mb) {
      // Only micro-batches that this pipeline runs have tasks.
      if (SlotOf(Line[0], Mb, false) == NoTask)
        continue;
      for (int32_t Pos = 0; Pos < Len; ++Pos) {
        TaskId F = SlotOf(Line[Pos], Mb, false), B = SlotOf(Line[Pos], Mb, true);
        if (Pos > 0)
          P.addEdge(SlotOf(Line[Pos - 1], Mb, false), F);
        P.addEdge(F, B);
        if (Pos + 1 < Len)
          P.addEdge(SlotOf(Line[Pos + 1], Mb, true), B);
      }
    }
  }
}

} // namespace pfc
