//===- PlanScale.h - a plan's stage structure with fewer blocks ------------===//
//
// pfc-run keeps a plan's stages, devices and streams and only changes how
// many Transformer blocks each stage holds (--layers-per-stage): every stage
// that held blocks holds N, in the same order, with the embedding and head
// where they were. Each layer range of the plan (shared by Chimera's two
// pipelines) maps to one new range. K-FAC tasks of a stage's first N blocks
// are renumbered to the new blocks; those of further blocks become no-ops
// (layer -1). Growing a K-FAC stage beyond its blocks would leave blocks
// without curvature tasks, so it is refused.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_PLANSCALE_H
#define PFC_BACKENDS_INTERP_PLANSCALE_H

#include "ir/Program.h"

#include "llvm/Support/Error.h"

namespace pfc::interp {

/// Rewrites \p P's stage layer ranges, task layers and model block count for
/// \p BlocksPerStage blocks per stage.
llvm::Error scaleStages(Program &P, int32_t BlocksPerStage);

} // namespace pfc::interp

#endif
