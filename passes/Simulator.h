//===- Simulator.h - event-driven timing of a program ----------------------===//
//
// Every stream runs its tasks one at a time in stream order; a task starts
// when the previous task of its stream and all its dependencies have ended.
// Durations are fixed, so the simulation is a longest-path sweep over the
// dependency edges plus the stream-order edges, in O(tasks + edges). A task
// that can never start (a cycle through dependencies and stream order) is a
// deadlock.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_SIMULATOR_H
#define PFC_PASSES_SIMULATOR_H

#include "ir/Program.h"

#include "llvm/Support/Error.h"

namespace pfc {

/// Fills P.Time and the busy/idle fields of P.Stats for one step: K-FAC cycle
/// tasks are ignored (bubble-fill times them). Returns a user error
/// naming a stuck task on deadlock.
llvm::Error simulateProgram(Program &P);

/// Tasks in an order that respects dependencies and stream order, or the
/// tasks that can never start (deadlock) as the error-side list.
struct TopoResult {
  std::vector<TaskId> Order;
  std::vector<TaskId> Stuck; ///< non-empty on deadlock
};
TopoResult topologicalOrder(const Program &P, const Adjacency &Succs);

} // namespace pfc

#endif
