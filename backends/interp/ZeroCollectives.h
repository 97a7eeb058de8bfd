//===- ZeroCollectives.h - ZeRO's reduce-scatter and all-gather on the CPU -===//
//
// A ZeRO plan (pfc compile --zero 1|2|3, passes/ZeroSync.cpp) shards each
// stage across the n copies of it (the data-parallel replicas, times two for
// Chimera): copy r owns the contiguous shard
//   [⌊r·Ψ/n⌋, ⌊(r+1)·Ψ/n⌋)
// of the stage's flat parameter vector (its parameters' elements back to
// back in Model::params order, Optimizer.h's flat view), r being the copy's
// rank among the stages with its layer range, by stage id. One contiguous
// piece per rank is ZeRO's and FSDP's flat partition: sizes within one
// element of Ψ/n whatever the tensor shapes, and the Ψ/n per rank that
// zero-sync's byte counts and optimizer times assume.
//
// The interpreter's replicas keep whole tensors; what is not valid is
// poisoned with NaN, so that a use of it shows in the loss:
//   REDUCE_SCATTER  every copy's gradient shard gets the sum over the copies
//                   (in task id order, as ALL_REDUCE); the rest of its
//                   gradient, which a real rank frees, becomes NaN;
//   OPTIMIZER_STEP  the stage's optimizer is sharded (Optimizer::shard): it
//                   updates, and keeps state for, its own shard only;
//   ALL_GATHER      every copy gets every owner's shard of the parameters.
// ZeRO-1 and 2 plans have the same tasks (they differ in the gradient memory
// the compiler accounts, not in what runs): the all-gather follows the
// optimizer step. Under ZeRO-3 a copy holds only its shard between steps
// (beginStep poisons the rest) and after each run of its compute work (a
// maximal run of one stage's forwards/backwards in its device's compute
// order, passes/Zero.h); the plan gathers before every run. endStep
// consolidates the shards so that callers see whole parameters after a step.
//
// analyzeZeroPlan checks that the plan's collectives are ordered so that
// these semantics are sound (a user error otherwise, naming the tasks), in
// the happens-before order the walker keeps (edges and stream order).
//
// K-FAC plans (passes/KfacInsert.cpp) put each stage's PRECONDITION after
// the stage's last backward and before its REDUCE_SCATTER (checked here):
// each copy replaces its K-FAC layers' local gradients G_r by their
// directions B⁻¹ G_r A⁻¹ with the factors every copy shares, so the
// reduce-scatter, which sums them as it sums gradients, gives each copy its
// shard of B⁻¹ (Σ G_r) A⁻¹, the unsharded plan's direction; the sharded
// K-FAC optimizer steps along it (KfacOptimizer.h). The KL clip
// ν = min(1, sqrt(κ / (η² Σ⟨Δ, V⟩))) needs ⟨Δ, V⟩ over whole layers, which
// no copy has after the reduce-scatter of Δ: with the clip on, the stage's
// optimizer also keeps its raw gradient V in a flat companion vector
// (setCompanion), which the reduce-scatter sums alongside the gradient, so
// each copy can compute its shard's part of Σ⟨Δ, V⟩ (a real runtime
// reduce-scatters the K-FAC layers' V too: twice their bytes, which the
// plan does not count; the scalar sum of the parts is not a plan task
// either). The executor then steps every shard with one ν after the walk
// and gathers the updated shards again (gatherAll).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_ZEROCOLLECTIVES_H
#define PFC_BACKENDS_INTERP_ZEROCOLLECTIVES_H

#include "Model.h"

#include "ir/Program.h"

#include "llvm/Support/Error.h"

#include <span>
#include <utility>

namespace pfc::interp {

/// What the ZeRO collectives need to know of a plan.
struct ZeroPlan {
  int32_t Zero = 0; ///< the plan's ZeRO stage; 0: no ZeRO collectives
  /// Per stage: the stages with its layer range (its copies), ascending,
  /// and its rank among them.
  std::vector<std::vector<int32_t>> Copies;
  std::vector<int32_t> Rank;
  /// Per task: the last forward/backward of a run of its stage (ZeRO-3).
  std::vector<char> EndsRun;
};

/// Checks ZeRO plan \p P (see the top of this file) and describes it; a
/// plan without ZeRO gives Zero = 0.
llvm::Expected<ZeroPlan> analyzeZeroPlan(const Program &P);

/// Rank \p Rank's shard of a flat vector of \p Size elements split \p Ranks
/// ways: [Begin, End).
std::pair<int64_t, int64_t> zeroShard(int64_t Size, int32_t Rank, int32_t Ranks);

template <typename T> class ZeroCollectives {
public:
  /// \p P and the replicas (one per pipeline) must outlive this.
  ZeroCollectives(const Program &P, ZeroPlan Z, const std::vector<Model<T> *> &Replicas);

  int32_t zero() const { return Z.Zero; }
  /// Stage \p Stage's shard of its flat parameter vector.
  std::pair<int64_t, int64_t> shard(int32_t Stage) const;

  /// A flat vector of stage \p Stage's size that every reduce-scatter of
  /// the stage sums over the copies as it sums the gradient (the rest of
  /// it becoming NaN); null: none. It must outlive this.
  void setCompanion(int32_t Stage, std::vector<T> *Flat);

  /// The collective of group \p Members (REDUCE_SCATTER or ALL_GATHER tasks
  /// of the copies of one stage, ascending ids).
  void reduceScatter(std::span<const TaskId> Members);
  void allGather(std::span<const TaskId> Members);

  /// ZeRO-3: the step starts with every copy holding only its shard; task
  /// \p Id, if it ends a run, releases its stage's gathered parameters; the
  /// step ends with the shards gathered everywhere. No-ops below ZeRO-3.
  void beginStep();
  void afterTask(TaskId Id);
  void endStep();
  /// Every copy gets every owner's shard of the parameters, every stage.
  void gatherAll();

private:
  void release(int32_t Stage);
  void reduceScatterCompanions(std::span<const TaskId> Members);
  void gather(std::span<const int32_t> Stages);

  const Program &P;
  ZeroPlan Z;
  std::vector<ParamList<T>> Params; ///< per stage
  std::vector<int64_t> Size;        ///< per stage: flat elements
  std::vector<std::vector<T> *> Companion; ///< per stage (setCompanion)
};

extern template class ZeroCollectives<float>;
extern template class ZeroCollectives<double>;

} // namespace pfc::interp

#endif
