//===- Zero.h - ZeRO sharding: memory formulas and weight residency --------===//
//
// What zero-sync and the memory pass share about ZeRO (Rajbhandari et al.,
// SC'20). With Psi parameters, E bytes per element (2 at mixed precision),
// K optimizer bytes per parameter (12: fp32 master copy and two Adam
// moments) and N_d ranks holding a replica of the stage:
//   ZeRO-0  (E + E + K) Psi
//   ZeRO-1  E Psi + E Psi + K Psi / N_d          (optimizer state sharded)
//   ZeRO-2  E Psi + (E + K) Psi / N_d            (and gradients)
//   ZeRO-3  (E + E + K) Psi / N_d                (and parameters)
// Sharded state is materialised for a while: under ZeRO-2 and 3 a stage's
// full gradient from its first backward until its reduce-scatter after the
// last one; under ZeRO-3 a stage's full parameters for each run of
// consecutive compute work of that stage on a device (one gather per run),
// plus the next run's, which is prefetched.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_ZERO_H
#define PFC_PASSES_ZERO_H

#include "ir/Program.h"

#include <vector>

namespace pfc {

class CostModel;

/// Static bytes of one device's share of \p Params parameters.
struct ZeroStatic {
  int64_t Params = 0, Grads = 0, Optimizer = 0;
  int64_t total() const { return Params + Grads + Optimizer; }
};
ZeroStatic zeroStaticBytes(int64_t Params, int64_t ElemBytes, int64_t OptimizerBytesPerParam,
                           int32_t Zero, int32_t Ranks);

/// Static memory of device \p Device under the plan's --zero stage.
int64_t deviceStaticBytes(const Program &P, const CostModel &Costs, int32_t Device);

/// A maximal run of consecutive forward/backward tasks of one stage in a
/// device's compute order: under ZeRO-3 its weights are gathered once per run.
struct StageRun {
  int32_t Stage = -1;
  int32_t First = 0, Last = 0; ///< positions in the compute stream
};
std::vector<StageRun> stageRuns(const Program &P, int32_t Device);

/// Peak of the sharded state materialised on \p Device (see the top of this
/// file); 0 below ZeRO-2.
int64_t zeroWorkingBytes(const Program &P, int32_t Device);

} // namespace pfc

#endif
