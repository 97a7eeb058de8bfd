//===- ScheduleBuilder.cpp - shared by the schedule generators -------------===//
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

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

void materializeSchedule(Program &P, const DeviceOrders &Orders) {
  P.clearTasks();
  const int32_t N = P.Options.microbatches();
  size_t Total = 0;
  for (const auto &O : Orders)
    Total += O.size();
  P.Tasks.reserve(Total + Total / 2);
  P.Edges.reserve(Total * 2);

  // Slot of (stage, microbatch, backward?) -> task id.
  std::vector<TaskId> Slot(static_cast<size_t>(P.numStages()) * N * 2, NoTask);
  auto SlotOf = [&](int32_t Stage, int32_t Mb, bool Bwd) -> TaskId & {
    return Slot[(static_cast<size_t>(Stage) * N + Mb) * 2 + Bwd];
  };
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
      SlotOf(Op.Stage, Op.Microbatch, Op.Backward) = P.addTask(T);
    }

  auto Lines = stagesByPipeline(P);
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
