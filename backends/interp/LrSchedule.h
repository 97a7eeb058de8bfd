//===- LrSchedule.h - learning rate as a function of the training step -----===//
//
// pfc-run's --lr-schedule, --warmup-steps and --lr-min-ratio: the rate of
// step t (1-based, t = 1..S for S = --steps) is
//
//   t ≤ W:  η t / W                        (linear warm-up from 0)
//   t > W:  constant  η
//           linear    η (r + (1 − r)(1 − p))
//           cosine    η (r + (1 − r)(1 + cos πp) / 2),   p = (t − W) / (S − W)
//
// so the rate peaks at η on step W (or step 1 without warm-up) and, for
// cosine and linear, reaches r η on the last step. The training loop sets
// every optimizer's rate to at(t) before step t (Optimizer::setLearningRate);
// the same schedule applies to SGD, AdamW and K-FAC (where it also enters
// the KL clip, KfacOptimizer.h).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_LRSCHEDULE_H
#define PFC_BACKENDS_INTERP_LRSCHEDULE_H

#include <cstdint>
#include <string_view>

namespace pfc::interp {

struct LrSchedule {
  enum Kind { Constant, Cosine, Linear };
  Kind Shape = Constant;
  double Base = 0.1;   ///< η, the peak rate
  int64_t Warmup = 0;  ///< W, steps of linear warm-up (0 ≤ W ≤ Steps)
  int64_t Steps = 1;   ///< S, the last step
  double MinRatio = 0; ///< r, in [0, 1]: the last step's rate over η

  /// The rate of step \p T (1-based; clamped to [1, Steps]).
  double at(int64_t T) const;
  /// "constant", "cosine" or "linear".
  static std::string_view name(Kind K);
};

} // namespace pfc::interp

#endif
