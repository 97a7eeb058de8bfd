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

#include <cstdint>
#include <vector>

namespace pfc {

/// Fills P.Time and the busy/idle fields of P.Stats for one step: K-FAC cycle
/// tasks are ignored (bubble-fill times them; here each starts at 0) with
/// their edges. Returns a user error naming a stuck task on deadlock.
llvm::Error simulateProgram(Program &P);

/// The step simulation split in two, for callers that time one program with
/// several sets of durations (bubble-fill: without and with
/// preconditioning): create() builds the successor lists and a topological
/// order (or reports the deadlock); run() times the program's current
/// durations as simulateProgram does. Tasks, edges and streams must not
/// change in between.
class StepSimulator {
public:
  static llvm::Expected<StepSimulator> create(const Program &P);
  void run(Program &P) const;
  /// The step time run() would give with the tasks of kind \p Free taking
  /// no time; \p P is left as it is.
  double stepTimeWithout(const Program &P, TaskKind Free) const;

private:
  std::vector<uint8_t> IsCycle;
  std::vector<TaskId> Next;      ///< next per-step task of the stream
  std::vector<int32_t> Offsets;  ///< successor CSR over per-step edges
  std::vector<TaskId> Succs;
  std::vector<TaskId> Order;     ///< topological: dependencies and stream order
};

} // namespace pfc

#endif
