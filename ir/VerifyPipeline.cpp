//===- VerifyPipeline.cpp - pipeline coverage and data dependencies --------===//
//
// Invariants P1, P2 and R1 of Verifier.cpp (R2 follows from R1 and D1). Coverage fills a table of
// the forward and backward task of every (stage, micro-batch), 2 x stages x
// micro-batches entries, no more than twice the number of F and B tasks of a
// valid plan; the dependency checks then look up each task's producer in it.
//
//===----------------------------------------------------------------------===//
#include "VerifierImpl.h"

#include <algorithm>
#include <limits>

namespace pfc::verifier {

namespace {
bool isForwardOrBackward(TaskKind K) { return K == proto::FORWARD || K == proto::BACKWARD; }
const char *fb(bool Backward) { return Backward ? "B" : "F"; }
} // namespace

llvm::Error Checker::checkCoverage() {
  const int32_t NumTasks = P.numTasks();
  if (NumTasks == 0)
    return llvm::Error::success(); // partitioned, not yet scheduled
  auto Fail = [&](std::string Details) { return report(Invariant::Coverage, Details); };
  const int32_t N = P.Options.microbatches();
  if (N < 1)
    return Fail(fmt::format("the program has tasks, but options.microbatches is {}", N));

  // P1.
  int64_t NumFB = 0;
  for (TaskId T = 0; T < NumTasks; ++T) {
    const Task &Tk = P.Tasks[T];
    if (!isForwardOrBackward(Tk.Kind))
      continue;
    if (Tk.Microbatch < 0 || Tk.Microbatch >= N)
      return Fail(fmt::format("{} has a micro-batch outside [0, {}) (options.microbatches)",
                              describe(T), N));
    ++NumFB;
  }

  // A valid plan runs every micro-batch through a whole pipeline, so it has
  // at least 2 * N * MinLen F and B tasks. Fewer, with N too large for a
  // table sized by it: name the lowest micro-batch short of tasks instead.
  if (Lines.empty())
    return Fail("the program has tasks, but no pipeline stages");
  int64_t MinLen = std::numeric_limits<int64_t>::max();
  for (const auto &Line : Lines)
    MinLen = std::min<int64_t>(MinLen, Line.size());
  const int64_t TableSize = static_cast<int64_t>(P.numStages()) * N * 2;
  if (NumFB < 2 * MinLen * N && TableSize > 4 * static_cast<int64_t>(NumTasks) + 65536) {
    int64_t Size = std::min<int64_t>(N, NumFB / (2 * MinLen) + 1);
    std::vector<int64_t> Count(Size, 0);
    for (const Task &Tk : P.Tasks)
      if (isForwardOrBackward(Tk.Kind) && Tk.Microbatch < Size)
        ++Count[Tk.Microbatch];
    int64_t M =
        std::find_if(Count.begin(), Count.end(), [&](int64_t C) { return C < 2 * MinLen; }) -
        Count.begin();
    return Fail(fmt::format("micro-batch {} of {} has {} F and B tasks; the shortest pipeline "
                            "needs {}",
                            M, N, Count[M], 2 * MinLen));
  }

  // P2: one task per slot.
  NumMicrobatches = N;
  Slots.assign(TableSize, NoTask);
  for (TaskId T = 0; T < NumTasks; ++T) {
    const Task &Tk = P.Tasks[T];
    if (!isForwardOrBackward(Tk.Kind))
      continue;
    bool Bwd = Tk.Kind == proto::BACKWARD;
    TaskId &Slot = Slots[(static_cast<size_t>(Tk.Stage) * N + Tk.Microbatch) * 2 + Bwd];
    if (Slot != NoTask)
      return Fail(fmt::format("{} duplicates task {}: a stage runs one {} of each micro-batch",
                              describe(T), Slot, fb(Bwd)));
    Slot = T;
  }
  // P2: one pipeline per micro-batch, all of its stages.
  for (int32_t M = 0; M < N; ++M) {
    int32_t Runner = -1;
    TaskId RunnerTask = NoTask;
    for (int32_t L = 0; L < static_cast<int32_t>(Lines.size()); ++L) {
      TaskId Any = NoTask;
      for (int32_t S : Lines[L]) {
        for (bool Bwd : {false, true})
          if (slot(S, M, Bwd) != NoTask && (Any == NoTask || slot(S, M, Bwd) < Any))
            Any = slot(S, M, Bwd);
      }
      if (Any == NoTask)
        continue;
      if (Runner != -1)
        return Fail(fmt::format("micro-batch {} runs through pipelines {} and {}: {} and {}", M,
                                Runner, L, describe(RunnerTask), describe(Any)));
      Runner = L;
      RunnerTask = Any;
    }
    if (Runner == -1)
      return Fail(
          fmt::format("micro-batch {} of {} runs through no pipeline: it has no F or B", M, N));
    const auto &Line = Lines[Runner];
    for (int32_t I = 0; I < static_cast<int32_t>(Line.size()); ++I)
      for (bool Bwd : {false, true})
        if (slot(Line[I], M, Bwd) == NoTask)
          return Fail(fmt::format("micro-batch {} has no {} on stage {} (position {} of "
                                  "pipeline {}, device {})",
                                  M, fb(Bwd), Line[I], I, Runner, P.Stages[Line[I]].Device));
  }
  return llvm::Error::success();
}

llvm::Error Checker::checkDependencies() {
  const int32_t NumTasks = P.numTasks();
  if (NumTasks == 0)
    return llvm::Error::success();
  // R1: Consumer depends on Producer directly or through one send -> recv
  // pair of the producer's kind of data.
  auto Reaches = [&](TaskId Producer, TaskId Consumer) {
    if (hasEdge(Producer, Consumer))
      return true;
    TaskKind Recv =
        P.Tasks[Producer].Kind == proto::FORWARD ? proto::RECV_ACTIVATION : proto::RECV_GRADIENT;
    for (TaskId R : Preds.of(Consumer))
      if (P.Tasks[R].Kind == Recv && hasEdge(Producer, P.Tasks[R].Peer))
        return true;
    return false;
  };
  auto Missing = [&](TaskId Consumer, TaskId Producer) {
    bool Fwd = P.Tasks[Producer].Kind == proto::FORWARD;
    return report(Invariant::Dependency,
                  fmt::format("{} does not depend on {}, directly or through a {} -> {} pair",
                              describe(Consumer), describe(Producer),
                              taskKindName(Fwd ? proto::SEND_ACTIVATION : proto::SEND_GRADIENT),
                              taskKindName(Fwd ? proto::RECV_ACTIVATION : proto::RECV_GRADIENT)));
  };
  for (TaskId T = 0; T < NumTasks; ++T) {
    const Task &Tk = P.Tasks[T];
    if (!isForwardOrBackward(Tk.Kind))
      continue;
    const Stage &St = P.Stages[Tk.Stage];
    const auto &Line = Lines[St.Pipeline];
    const int32_t M = Tk.Microbatch;
    const bool Last = St.Position + 1 == static_cast<int32_t>(Line.size());
    if (Tk.Kind == proto::FORWARD) {
      if (St.Position > 0) {
        TaskId Prev = slot(Line[St.Position - 1], M, false);
        if (!Reaches(Prev, T))
          return Missing(T, Prev);
      }
      continue;
    }
    TaskId Producer = Last ? slot(Tk.Stage, M, false) : slot(Line[St.Position + 1], M, true);
    if (!Reaches(Producer, T))
      return Missing(T, Producer);
  }
  return llvm::Error::success();
}

} // namespace pfc::verifier
