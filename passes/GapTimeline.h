//===- GapTimeline.h - idle intervals of one stream over a cycle -----------===//
//
// The resource model of bubble filling: the free intervals of one device
// stream over a cycle of k steps of length T. A step's busy intervals repeat
// every step; gaps never cross a step boundary (a task placed in step t runs
// within step t). Placing a task carves its interval out of a gap.
//
// Gaps are kept in time order in blocks of at most BlockCapacity, with a
// max-tree over the blocks' longest gap: "the
// first gap at or after t where d fits" is a binary search for t's block, a
// scan of that block and one descent of the tree, O(log n + BlockCapacity);
// carving a gap touches one block and one path of the tree. A plain sorted
// vector scanned from t (the first version) made bubble filling quadratic
// once the early gaps were full.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_GAPTIMELINE_H
#define PFC_PASSES_GAPTIMELINE_H

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace pfc {

class GapTimeline {
public:
  /// Slack for floating-point sums of durations (ms).
  static constexpr double Eps = 1e-9;

  /// \p Busy: the busy intervals of one step, within [0, StepMs). Gaps
  /// shorter than \p MinUseful (the shortest task to place) are dropped,
  /// whether there from the start or left over by placements.
  GapTimeline(std::vector<std::pair<double, double>> Busy, double StepMs, int Steps,
              double MinUseful = 0);

  /// Where a task fits: its start (negative when nowhere) and the gap.
  struct Fit {
    double Start = -1;
    uint32_t Block = 0, Index = 0;
    bool ok() const { return Start >= 0; }
  };
  /// Earliest start >= Ready at which \p Duration fits in a gap (as much as
  /// 1e-9 ms past its end), whenever it ends. Non-decreasing in Ready, and
  /// the same for every Ready' in [Ready, Start].
  Fit firstFit(double Ready, double Duration) const;
  /// firstFit, if it ends by \p Deadline (1e-9 ms slack); else not ok.
  Fit earliestFit(double Ready, double Duration, double Deadline) const;
  /// Whether a fit of \p Duration ends by \p Deadline, as earliestFit tests it.
  static bool endsBy(const Fit &F, double Duration, double Deadline) {
    return F.ok() && F.Start + Duration <= Deadline + Eps;
  }
  /// Marks [F.Start, F.Start + Duration) busy in the gap firstFit found
  /// (named by position: gaps of adjacent steps may touch within rounding).
  void reserve(const Fit &F, double Duration);

  /// Free time per step (of the first step).
  double idlePerStep() const { return IdlePerStep; }
  /// Free time left in the gaps (those at least MinUseful long), over the cycle.
  double freeTime() const { return FreeMs; }
  /// Gaps left (at least MinUseful long), and the blocks holding them.
  size_t numGaps() const;
  size_t numBlocks() const { return Blocks.size(); }

  /// Gaps per block; a block that outgrows it is split in two.
  static constexpr size_t BlockCapacity = 64;

private:
  struct Gap {
    double Start, End;
  };
  struct Block {
    std::vector<Gap> Gaps; ///< sorted and disjoint
    double End;            ///< no gap of it ends later; non-decreasing along the blocks
  };
  std::vector<Block> Blocks;
  /// Max-tree over the blocks' longest gap: Tree[Leaves + B] for block B.
  std::vector<double> Tree;
  size_t Leaves = 0;
  double IdlePerStep = 0;
  double FreeMs = 0;
  double MinUseful = 0;

  double longest(const Block &B) const;
  void buildTree();
  void updateTree(size_t B);
  /// First block at or after \p From whose longest gap is >= \p Length, or
  /// Blocks.size().
  size_t nextBlockWith(size_t From, double Length) const;
};

} // namespace pfc

#endif
