//===- ScheduleBuilder.h - shared by the schedule generators ---------------===//
//
// A schedule generator decides only the order of forward and backward work on
// each device. materializeSchedule turns that order into tasks on the compute
// streams, with the data dependencies every pipeline has:
//   F(s, m) after F(prev(s), m);  B(s, m) after B(next(s), m);
//   B(last, m) after F(last, m);  B(s, m) after F(s, m).
// Cross-device edges stay direct here; insert-comm routes them through
// send/receive tasks.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_SCHEDULEBUILDER_H
#define PFC_PASSES_SCHEDULEBUILDER_H

#include "ir/Program.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace pfc {

struct ComputeOp {
  bool Backward = false;
  int32_t Stage = 0;
  int32_t Microbatch = 0;
};

/// Orders[d] is device d's compute order.
using DeviceOrders = std::vector<std::vector<ComputeOp>>;

/// Stage ids of each pipeline, by position: result[pipeline][position].
std::vector<std::vector<int32_t>> stagesByPipeline(const Program &P);

/// Checks that the program was partitioned and that --virtual-stages is 1
/// unless \p AllowVirtual; \p Scheme names the schedule in messages.
llvm::Error checkScheduleInputs(const Program &P, llvm::StringRef Scheme, bool AllowVirtual);

/// Checks the looping placement the partition pass makes for V > 1: one
/// pipeline of S*V stages, stage i on device i mod S (a hand-made plan might
/// differ); \p Scheme names the schedule in the message.
llvm::Error checkLoopingPlacement(const Program &P, llvm::StringRef Scheme, int32_t S,
                                  int32_t V);

/// Replaces the program's tasks with the given compute order.
void materializeSchedule(Program &P, const DeviceOrders &Orders);

} // namespace pfc

#endif
