//===- GapTimeline.h - idle intervals of one stream over a cycle -----------===//
//
// The resource model of bubble filling: the free intervals of one device
// stream over a cycle of k steps of length T. A step's busy intervals repeat
// every step; gaps never cross a step boundary (a task placed in step t runs
// within step t). Placing a task carves its interval out of a gap.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_GAPTIMELINE_H
#define PFC_PASSES_GAPTIMELINE_H

#include <cstddef>
#include <utility>
#include <vector>

namespace pfc {

class GapTimeline {
public:
  /// \p Busy: the busy intervals of one step, within [0, StepMs). Gaps
  /// shorter than \p MinUseful (the shortest task to place) are dropped,
  /// whether there from the start or left over by placements.
  GapTimeline(std::vector<std::pair<double, double>> Busy, double StepMs, int Steps,
              double MinUseful = 0);

  /// Where a task fits: its start (negative when nowhere) and the gap.
  struct Fit {
    double Start = -1;
    size_t Gap = 0;
    bool ok() const { return Start >= 0; }
  };
  /// Earliest start >= Ready at which \p Duration fits and ends by
  /// \p Deadline.
  Fit earliestFit(double Ready, double Duration, double Deadline) const;
  /// Marks [F.Start, F.Start + Duration) busy in the gap earliestFit found
  /// (named by index: gaps of adjacent steps may touch within rounding).
  void reserve(const Fit &F, double Duration);

  /// Free time per step (of the first step).
  double idlePerStep() const { return IdlePerStep; }

private:
  struct Gap {
    double Start, End;
  };
  std::vector<Gap> Gaps; ///< sorted and disjoint
  double IdlePerStep = 0;
  double MinUseful = 0;
};

} // namespace pfc

#endif
