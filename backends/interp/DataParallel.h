//===- DataParallel.h - a plan's data-parallel replicas made explicit -------===//
//
// A plan lists the devices of one pipeline replica; with data_parallel D > 1
// every replica runs the same plan on its own devices and its all-reduce
// tasks stand for collectives across the replicas (docs/plan-format.md).
// The interpreter runs all of them in one process: expandDataParallel
// copies the plan D times -- replica r's device d is device r*S + d, its
// stages, pipelines and micro-batches offset the same way -- so the walker
// groups each all-reduce with its copies (same kind, layers and block) and
// every replica trains on micro-batches of its own. The result has
// data_parallel 1 and D*N micro-batches.
//
// ZeRO plans are expanded the same way: their REDUCE_SCATTER and ALL_GATHER
// tasks group with their copies like the all-reduces, and the executor runs
// them on shards (ZeroCollectives.h). The plan is checked first
// (analyzeZeroPlan), so a ZeRO plan the executor cannot run (collectives out
// of order, a K-FAC plan preconditioning after its reduce-scatter) is
// refused with its own task ids.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_DATAPARALLEL_H
#define PFC_BACKENDS_INTERP_DATAPARALLEL_H

#include "ir/Program.h"

#include "llvm/Support/Error.h"

namespace pfc::interp {

/// \p P with its data-parallel replicas as devices of its own; \p P itself
/// when data_parallel <= 1. A user error for ZeRO plans analyzeZeroPlan
/// rejects.
llvm::Expected<Program> expandDataParallel(const Program &P);

} // namespace pfc::interp

#endif
