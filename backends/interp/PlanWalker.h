//===- PlanWalker.h - the backend-neutral plan walker ----------------------===//
//
// Walks one training step of a plan: one host thread per plan device issues
// that device's tasks stream by stream in the plan's order, the way a GPU
// runtime issues work to its compute, send, receive and collective streams.
// The head task of a stream runs once every task it depends on has ended,
// and a stream never runs ahead of its own order. What a task does is the
// backend's business (a TaskRunner: the CPU executor, the CUDA executor);
// the walker owns the scheduling: stream positions, collective arrivals
// (the last member of a group triggers the collective and ends the others'
// tasks), deadlock detection, per-task wall times and the first failure.
// A group is the tasks of one collective kind (ALL_REDUCE,
// FACTOR_ALL_REDUCE, and ZeRO's REDUCE_SCATTER and ALL_GATHER) on the
// stages with one layer range (the copies of a stage), of one K-FAC block;
// a stage's k-th ALL_GATHER (task id order: ZeRO-3 gathers a stage once per
// run of its compute work) groups with its copies' k-th.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_PLANWALKER_H
#define PFC_BACKENDS_INTERP_PLANWALKER_H

#include "ir/Program.h"

#include "llvm/Support/Error.h"

#include <map>
#include <span>
#include <string_view>

namespace pfc::interp {

/// What a backend does when the walker reaches a task. run() and reduce()
/// are called from the task's device thread, outside the walker's lock.
class TaskRunner {
public:
  virtual ~TaskRunner() = default;
  /// Called on device \p Device's thread before its first task.
  virtual llvm::Error startDevice(int32_t Device) { return llvm::Error::success(); }
  /// Tasks that start out done this step (K-FAC cycle tasks not due).
  virtual bool skipped(const Task &Tk) const { return false; }
  /// Whether the edge \p Pred -> \p Tk was satisfied in an earlier step.
  virtual bool satisfiedEarlier(const Task &Tk, const Task &Pred) const { return false; }
  /// Runs task \p Id (any kind but the collectives of groups).
  virtual llvm::Error run(TaskId Id) = 0;
  /// Every member of a collective group has arrived: run the collective over
  /// \p Members (ascending task ids, so the sum order is fixed).
  virtual llvm::Error reduce(std::span<const TaskId> Members) = 0;
};

class PlanWalker {
public:
  explicit PlanWalker(const Program &P);

  /// Checks what both backends need: one data-parallel replica, one model
  /// replica per pipeline with the plan's block count, task kinds the
  /// executors implement (ZeRO's collectives included: a backend that cannot
  /// run them refuses them itself), and collective groups whose members
  /// share their cycle_step. \p Backend names the backend in messages.
  static llvm::Error checkRunnable(const Program &P, size_t Replicas, int32_t ModelLayers,
                                   std::string_view Backend);

  /// One step: every device's streams, one thread per device. \p TaskMs gets
  /// each task's wall time in ms (-1: not run). Fails with the first error a
  /// task returned, or when the plan deadlocks.
  llvm::Error walk(TaskRunner &R, std::vector<double> &TaskMs) const;

  /// The task whose output compute task \p Id consumes: a RECV of the right
  /// kind, or a compute task of the same kind on another stage of this
  /// device; for a SEND, its compute predecessor. NoTask for the first
  /// forward and the last backward.
  TaskId producer(TaskId Id) const;

  const Program &program() const { return P; }
  const Adjacency &preds() const { return Preds; }

private:
  friend class WalkState;
  /// (kind, stage layer range, block, ordinal).
  using GroupKey = std::tuple<int32_t, int32_t, int32_t, int32_t, int32_t>;
  GroupKey groupOf(TaskId Id) const;

  const Program &P;
  Adjacency Preds;
  /// Per task: its ordinal among its stage's ALL_GATHERs (else 0).
  std::vector<int32_t> Ordinal;
  /// Collective groups: member task ids, ascending.
  std::map<GroupKey, std::vector<TaskId>> Groups;
};

} // namespace pfc::interp

#endif
