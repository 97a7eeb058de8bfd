//===- VerifyTiming.cpp - timing and memory capacity -----------------------===//
//
// Invariants T1-T5 and M1 of Verifier.cpp. The timeline covers a cycle of k
// steps of length T (proto/plan.proto, Report.cycle_steps): per-step tasks
// have times within [0, T] and run again at every step s at s*T + time;
// K-FAC cycle tasks run once, at absolute times in [0, kT). So stream
// exclusivity between per-step tasks is one pass over each stream, and a
// cycle task is compared with the per-step tasks of its stream at every step
// it spans (binary search in the stream's per-step order, which T2 has shown
// to be sorted by time). The cycle tasks of a stream are put in time order
// by a counting sort on their step (bubble-fill lists them by time within
// the step), falling back to a comparison sort.
//
//===----------------------------------------------------------------------===//
#include "VerifierImpl.h"

#include <algorithm>
#include <cmath>

namespace pfc::verifier {

namespace {
/// The first violation of stream exclusivity, keeping the lowest task ids.
struct Overlap {
  TaskId First = NoTask, Second = NoTask;
  int32_t Step = -1; ///< step of the per-step task's instance, -1 if not applicable
  void offer(TaskId A, TaskId B, int32_t S) {
    auto Key = [](TaskId X, TaskId Y) { return std::pair(std::min(X, Y), std::max(X, Y)); };
    if (First == NoTask || Key(A, B) < Key(First, Second))
      *this = Overlap{A, B, S};
  }
};
} // namespace

llvm::Error Checker::checkTiming() {
  if (!P.Time.Simulated)
    return llvm::Error::success();
  auto Fail = [&](std::string Details) { return report(Invariant::Timing, Details); };
  const int32_t N = P.numTasks();
  const std::vector<double> &Start = P.Time.Start, &End = P.Time.End;
  const double T = P.Time.StepTimeMs;
  const int32_t K = P.Time.CycleSteps;
  // Cycle tasks are timed once bubble-fill has placed them; the simulator
  // alone leaves them where their dependencies would let them start.
  const bool CycleTimed = P.Kfac.refresh_steps() > 0;
  if (!std::isfinite(T) || T < 0 || K < 1)
    return Fail(
        fmt::format("step time {} ms and cycle of {} steps; they must be >= 0 and >= 1", T, K));
  if (CycleTimed && K != P.Kfac.refresh_steps())
    return Fail(fmt::format("the timeline covers {} steps (report.cycle_steps), the K-FAC "
                            "refresh cycle {} (report.kfac.refresh_steps)",
                            K, P.Kfac.refresh_steps()));
  const double Eps = 1e-6 + 1e-9 * K * T;
  auto Timed = [&](TaskId X) { return CycleTimed || !isCycle(X); };

  // T1, T2 (bounds), T3 (placement within the cycle). The cycle step of
  // every cycle task is copied to a dense array for the stream check, which
  // reads it in stream order.
  std::vector<int32_t> StepOf(CycleTimed ? N : 0);
  for (TaskId X = 0; X < N; ++X) {
    if (!Timed(X))
      continue;
    const double Dur = P.Tasks[X].DurationMs;
    if (!(Start[X] >= -Eps))
      return Fail(fmt::format("{} starts at {} ms, before 0", describe(X), Start[X]));
    if (!(std::abs(End[X] - (Start[X] + Dur)) <= Eps))
      return Fail(fmt::format("{} starts at {} ms and lasts {} ms, but ends at {} ms", describe(X),
                              Start[X], Dur, End[X]));
    if (!isCycle(X)) {
      if (End[X] > T + Eps)
        return Fail(
            fmt::format("{} ends at {} ms, after the step time {} ms", describe(X), End[X], T));
      continue;
    }
    const int32_t Step = P.Tasks[X].CycleStep;
    StepOf[X] = Step;
    if (Step >= K)
      return Fail(fmt::format("{} runs in a step outside the cycle of {} steps", describe(X), K));
    if (Start[X] < Step * T - Eps || Start[X] > (Step + 1) * T + Eps)
      return Fail(fmt::format("{} starts at {} ms, outside its step [{}, {}] ms", describe(X),
                              Start[X], Step * T, (Step + 1) * T));
    if (End[X] > K * T + Eps)
      return Fail(fmt::format("{} ends at {} ms, after the {}-step cycle ends at {} ms",
                              describe(X), End[X], K, K * T));
  }

  // T2, T3: dependencies. A cycle task Y in step t with data lag l runs
  // after the step-(t-l) instance of a per-step dependency X:
  // Y.start >= X.end + (t - l) T (step -1: the previous cycle's last step).
  for (TaskId Y = 0; Y < N; ++Y) {
    if (!Timed(Y))
      continue;
    const bool CycleY = isCycle(Y);
    for (TaskId X : Preds.of(Y)) {
      const bool CycleX = isCycle(X);
      if (CycleX && (!CycleY || !CycleTimed))
        continue; // consumed in the next cycle, or not placed yet
      // The instance it uses: DataLag steps before the step it runs in.
      const int32_t Step = CycleY && !CycleX ? P.Tasks[Y].CycleStep - P.Tasks[Y].DataLag : 0;
      const double Ready = End[X] + Step * T;
      if (Start[Y] < Ready - Eps)
        return Fail(fmt::format("{} starts at {} ms, before its dependency {} ends at {} ms{}",
                                describe(Y), Start[Y], describe(X), Ready,
                                Step != 0 ? fmt::format(" (its instance in step {})", Step)
                                          : std::string()));
    }
  }

  // T2, T4: one task at a time per stream.
  Overlap Found;
  std::vector<TaskId> PerStep, Cycle, ByStep;
  std::vector<size_t> StepCount;
  for (const std::vector<TaskId> &Stream : P.Streams) {
    PerStep.clear();
    Cycle.clear();
    for (TaskId X : Stream) {
      if (!Timed(X) || End[X] <= Start[X])
        continue; // takes no time: overlaps nothing
      (isCycle(X) ? Cycle : PerStep).push_back(X);
    }
    bool InTimeOrder = true;
    for (size_t I = 1; I < PerStep.size(); ++I)
      if (Start[PerStep[I]] < End[PerStep[I - 1]] - Eps) {
        Found.offer(PerStep[I - 1], PerStep[I], -1);
        InTimeOrder = false;
      }
    if (Cycle.empty() || !InTimeOrder)
      continue; // the search below needs the per-step tasks in time order
    // Cycle tasks by start (ties by id). Bubble-fill lists them by time
    // within their step, so a counting sort by step usually puts them in
    // order; sort only if it did not.
    auto ByStart = [&](TaskId A, TaskId B) {
      return Start[A] != Start[B] ? Start[A] < Start[B] : A < B;
    };
    if (!std::is_sorted(Cycle.begin(), Cycle.end(), ByStart)) {
      StepCount.assign(static_cast<size_t>(K) + 1, 0);
      for (TaskId C : Cycle)
        ++StepCount[StepOf[C] + 1];
      for (int32_t S = 0; S < K; ++S)
        StepCount[S + 1] += StepCount[S];
      ByStep.resize(Cycle.size());
      for (TaskId C : Cycle)
        ByStep[StepCount[StepOf[C]]++] = C;
      Cycle.swap(ByStep);
      if (!std::is_sorted(Cycle.begin(), Cycle.end(), ByStart))
        std::sort(Cycle.begin(), Cycle.end(), ByStart);
    }
    TaskId Latest = NoTask;
    for (TaskId C : Cycle) {
      if (Latest != NoTask && Start[C] < End[Latest] - Eps)
        Found.offer(Latest, C, -1);
      if (Latest == NoTask || End[C] > End[Latest])
        Latest = C;
      // Each step's instances of the per-step tasks that C spans.
      if (T <= 0)
        continue;
      int32_t First = std::max<int32_t>(0, static_cast<int32_t>(std::floor(Start[C] / T)));
      int32_t Last = std::min<int32_t>(K - 1, static_cast<int32_t>(std::floor(End[C] / T)));
      for (int32_t S = First; S <= Last; ++S) {
        const double Lo = Start[C] - S * T, Hi = End[C] - S * T;
        auto It = std::partition_point(PerStep.begin(), PerStep.end(),
                                       [&](TaskId X) { return Start[X] <= Lo; });
        for (size_t J = It == PerStep.begin() ? 0 : It - PerStep.begin() - 1;
             J < PerStep.size() && Start[PerStep[J]] < Hi - Eps; ++J)
          if (End[PerStep[J]] > Lo + Eps) {
            Found.offer(PerStep[J], C, S);
            break;
          }
      }
    }
  }
  if (Found.First != NoTask) {
    TaskId A = Found.First, B = Found.Second;
    const Task &Tk = P.Tasks[A];
    double Offset = Found.Step > 0 ? Found.Step * T : 0;
    return Fail(
        fmt::format("{} and {} overlap on the {} stream of device {}: [{}, {}) and [{}, {}) ms{}",
                    describe(A), describe(B), streamName(Tk.Stream), Tk.Device, Start[A] + Offset,
                    End[A] + Offset, Start[B], End[B],
                    Found.Step >= 0 ? fmt::format(" (task {}'s instance in step {})", A, Found.Step)
                                    : std::string()));
  }
  // T5: the factor all-reduces of one block on two devices (Chimera's
  // copies) are one collective: same cycle step, same start.
  if (CycleTimed) {
    std::vector<TaskId> FirstOfLayer;
    for (TaskId X = 0; X < N; ++X) {
      const Task &Tk = P.Tasks[X];
      if (Tk.Kind != proto::FACTOR_ALL_REDUCE || Tk.Layer < 0)
        continue;
      if (static_cast<size_t>(Tk.Layer) >= FirstOfLayer.size())
        FirstOfLayer.resize(static_cast<size_t>(Tk.Layer) + 1, NoTask);
      TaskId &F = FirstOfLayer[static_cast<size_t>(Tk.Layer)];
      if (F == NoTask) {
        F = X;
        continue;
      }
      if (P.Tasks[F].CycleStep != Tk.CycleStep || std::abs(Start[F] - Start[X]) > Eps)
        return Fail(fmt::format("{} and {} reduce the same block's factors together but start "
                                "apart: cycle steps {} and {}, at {} and {} ms",
                                describe(F), describe(X), P.Tasks[F].CycleStep, Tk.CycleStep,
                                Start[F], Start[X]));
    }
  }
  return llvm::Error::success();
}

llvm::Error Checker::checkMemory() {
  constexpr double MiB = 1024.0 * 1024.0;
  int32_t First = -1, Worst = -1, Count = 0;
  for (int32_t D = 0; D < static_cast<int32_t>(P.Stats.size()); ++D) {
    const int64_t Capacity = P.Devices[D].MemoryCapacity;
    if (Capacity <= 0 || P.Stats[D].PeakMemory <= Capacity)
      continue;
    ++Count;
    auto Over = [&](int32_t X) { return P.Stats[X].PeakMemory - P.Devices[X].MemoryCapacity; };
    if (First == -1)
      First = D;
    else if (Worst == -1 || Over(D) > Over(Worst))
      Worst = D;
  }
  if (First == -1)
    return llvm::Error::success();
  auto Excess = [&](int32_t D) {
    double Capacity = static_cast<double>(P.Devices[D].MemoryCapacity);
    double Over = static_cast<double>(P.Stats[D].PeakMemory) - Capacity;
    return fmt::format("{:.1f} MiB ({:.1f}%)", Over / MiB, 100 * Over / Capacity);
  };
  std::string Msg = fmt::format("device {} peaks at {:.1f} MiB, {} over its capacity of {:.1f} MiB",
                                First, P.Stats[First].PeakMemory / MiB, Excess(First),
                                P.Devices[First].MemoryCapacity / MiB);
  if (Count > 1)
    Msg += fmt::format("; {} more device{} over capacity, device {} by the most: {}", Count - 1,
                       Count > 2 ? "s are" : " is", Worst, Excess(Worst));
  return report(Invariant::Memory, Msg, /*IsWarning=*/!Opts.MemoryIsError);
}

} // namespace pfc::verifier
