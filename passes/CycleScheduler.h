//===- CycleScheduler.h - list scheduling of K-FAC work into gaps ----------===//
//
// The core of bubble filling, kept apart from the pass (XLA's latency-hiding
// scheduler splits config, cost, resources and core the same way): given the
// per-step busy intervals of every device stream, the step length T and a
// cycle of k steps, place every cycle task into the idle gaps so that
//   - a task with per-step predecessors (curvature after F or B) uses the
//     data of one step d: it starts after those predecessors' instances of
//     step d end, in step d or (keeping the data one step longer) in step
//     d+1 -- its data lag; at the start of step 0 it may use the previous
//     cycle's last step;
//   - a task runs after its cycle predecessors end (absolute times);
//   - nothing overlaps anything else on its stream.
// Two policies: List (highest critical-path priority first, earliest gap
// that fits) and FixedOrder (PipeFisher: curvature, then all-reduce, then
// inversion, each at the first gap that fits).
//
// Collectives of two devices must run in one order on both (a runtime's
// collective stream, NCCL's communicator, blocks otherwise). So the two
// factor all-reduces of a block under Chimera are placed together, at the
// earliest time both collective streams are free, and no factor all-reduce
// is placed between the two (unsynchronised) halves of a Chimera gradient
// all-reduce: each pair's hull counts as busy on both devices.
//
// Cost of one placement of M tasks: O(M log M) for the ready heap and
// O(log G + GapTimeline::BlockCapacity) per gap search over G gaps; a
// curvature task needs one search for all the data steps it may use, bar
// rare re-searches. What does not depend on the cycle length (ranks,
// dependencies, busy intervals) is computed once per CycleProblem. An
// attempt that cannot succeed (a stream with more work left than free time)
// stops early.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_CYCLESCHEDULER_H
#define PFC_PASSES_CYCLESCHEDULER_H

#include "ir/Program.h"

#include <utility>
#include <vector>

namespace pfc {

struct CycleSchedulerConfig {
  bool FixedOrder = false;
};

/// Where the cycle tasks go: start times (absolute, within the cycle) and
/// data lags, indexed like CycleProblem::tasks(). Empty if something did
/// not fit.
struct CyclePlacement {
  std::vector<double> Start;
  std::vector<int> DataLag;
  bool ok() const { return !Start.empty(); }
};

/// The cycle tasks of a program and their dependencies, built once and
/// placed for several cycle lengths.
class CycleProblem {
public:
  /// \p P must be simulated: per-step predecessors' end times come from it.
  explicit CycleProblem(const Program &P);

  int32_t size() const { return static_cast<int32_t>(Tasks.size()); }
  /// Cycle task ids, in the order the policy places them (fixed order) or by id.
  const std::vector<TaskId> &tasks() const { return Tasks; }
  /// Busy intervals of one step, per device stream (Device * NumStreams + Stream).
  const std::vector<std::vector<std::pair<double, double>>> &busy() const { return Busy; }

  /// A lower bound on the time every step must grow by for any placement
  /// into \p Steps steps of \p StepMs to exist: on each lane, the tasks of
  /// length x or more fit only in gaps at least x long (the step's end gap
  /// grows by the stretch), so for every such x their work over the cycle
  /// must not exceed those gaps' time.
  double stretchBound(double StepMs, int Steps) const;

  /// Tasks longer than every gap of their stream's step (the end gap
  /// included): only a longer step can hold them.
  struct Misfit {
    int32_t Lane = -1; ///< the lane with the most such work; -1 if none
    int32_t Tasks = 0;
    double LongestTask = 0, LongestGap = 0;
  };
  Misfit misfit(double StepMs) const;

  /// Places every cycle task into a cycle of \p Steps steps of \p StepMs.
  CyclePlacement place(const Program &P, double StepMs, int Steps,
                       const CycleSchedulerConfig &Config) const;

private:
  /// Fills Partner and adds the hulls of Chimera's gradient all-reduce
  /// halves to the busy intervals of both devices' collective streams.
  void pairCollectives(const Program &P);

  std::vector<TaskId> Tasks;
  std::vector<int32_t> IndexOf;  ///< task id -> index in Tasks, -1 otherwise
  std::vector<double> StepReady; ///< latest per-step predecessor end, -1 if none
  std::vector<double> Duration;  ///< dense copies of what placing reads
  std::vector<int32_t> LaneOf;   ///< device * NumStreams + stream
  std::vector<double> Priority;  ///< longest chain of cycle work from the task on
  /// Index of the other member of a two-device factor all-reduce (Chimera's
  /// copies of a block), -1 if none: the pair is placed at one start time.
  std::vector<int32_t> Partner;
  Adjacency Preds, Succs;        ///< among cycle tasks, by index
  std::vector<std::vector<std::pair<double, double>>> Busy; ///< sorted
  std::vector<double> Shortest; ///< per lane: the shortest cycle task on it, 0 if none
  std::vector<char> Used;       ///< per lane: whether any cycle task runs on it
  /// List policy: indices by decreasing priority, ties by index (the order
  /// ready tasks are taken in), and each index's rank in it.
  std::vector<int32_t> ByPriority, Rank;
  /// Fixed-order policy: the order, computed on first use.
  mutable std::vector<int32_t> Fixed;
};

} // namespace pfc

#endif
