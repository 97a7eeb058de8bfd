//===- KfacOptimizer.h - K-FAC preconditioned SGD with momentum ------------===//
//
// Each step: fold the curvature accumulated since the last step into the
// running averages; when a refresh is due (every step during the warm-up,
// then every RefreshInterval steps) recompute the π-damped Cholesky inverses;
// precondition every K-FAC layer's gradient Δ = G⁻¹ [dW | db] A⁻¹; scale all
// Δ by one KL-clip factor ν = min(1, sqrt(κ / (η² Σ⟨Δ, V⟩))); then update
// with SGD + momentum. Parameters outside the K-FAC layers (LayerNorm, and
// the embedding unless setEmbedding) and layers without an inverse yet take
// the plain gradient.
//
// setLearningRate (a schedule, LrSchedule.h) changes η of both the update
// and the clip: while the clip is active the preconditioned step
// η ν Δ = sqrt(κ / Σ⟨Δ, V⟩) Δ does not depend on η, so a schedule moves it
// only where η is small enough that ν = 1 (early in a warm-up, late in a
// decay); the plain-gradient parameters follow η always.
//
// Embedding (setEmbedding, pfc-run --kfac-embedding): the token and position
// tables are preconditioned with a diagonal A (EmbeddingFactors, Kfac.h)
// on the stage that holds them, outside the plan's tasks (the plan has none
// for layer 0): each step folds the step's ids and output gradients (saved
// by the embedding's backward) into the averages; the inverses are
// recomputed when a refresh is due (plan-driven: when the plan's inverses
// are activated or refreshed). Its Δ joins the KL clip. The step's row
// count R (the loss scale is 1/R, Loss.h) is that of the saved micro-batches,
// so the stage must see every micro-batch of the step (one pipeline).
//
// Curvature comes from the micro-batches' saved inputs and output gradients
// (Linear::SaveForCurvature, set by the constructor): the plan's CURVATURE_A
// and CURVATURE_B tasks call curvatureA/curvatureB; a plain training loop
// calls curvatureAll after its backwards. Scale conventions: Kfac.h.
//
// Plan-driven mode (KfacOptions::PlanDriven, used by the executor): step()
// neither folds the averages nor inverts; the plan's INVERT tasks fold each
// factor and compute pending inverses (invertPending), which become the ones
// step() uses at the next refresh-cycle boundary (activatePending). The
// PRECONDITION task may compute the directions ahead of the step (prepare);
// with the KL clip across stages (KfacTasks.h) the executor reads their
// Σ⟨Δ, V⟩ (deltaDotV) from every stage and steps each with the one ν
// (stepWithClip).
//
// ZeRO (shard, plan-driven only, without setEmbedding): the stage's gradient
// is preconditioned before the plan's REDUCE_SCATTER, which sums what
// prepare() leaves in the gradients: each K-FAC layer's direction Δ in
// place of its gradient (the other parameters keep theirs). As Δ is linear
// in the gradient and every replica holds the same factors, the sum over
// the replicas is Δ of the summed gradient. step() then updates the shard
// [Begin, End) of the parameters' flat view (Optimizer.h) by momentum SGD
// along the gradients. The KL clip's Σ⟨Δ, V⟩ is over whole layers, which
// no replica holds after the reduce-scatter: with KlClip > 0, prepare()
// also keeps the K-FAC layers' raw gradients V in a flat vector of the
// stage's size (clipGradient(), zero elsewhere), which the reduce-scatter
// sums alongside (ZeroCollectives::setCompanion), so that each replica holds
// its shard of both Δ and V; shardDeltaDotV() is the shard's part of
// Σ⟨Δ, V⟩, the executor sums the parts of every shard of every stage into
// one ν and stepWithClip(ν) updates the shard, Δ scaled by ν. step() on a
// sharded optimizer steps with ν = 1. Momentum state is kept for the shard
// only.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_KFACOPTIMIZER_H
#define PFC_BACKENDS_INTERP_KFACOPTIMIZER_H

#include "Embedding.h"
#include "Kfac.h"
#include "Linear.h"
#include "Optimizer.h"

#include <algorithm>
#include <array>

namespace pfc::interp {

struct KfacOptions {
  SgdOptions Sgd;             ///< the update after preconditioning
  double Damping = 0.03;      ///< λ
  double Decay = 0.95;        ///< ρ of the running averages
  double KlClip = 0.001;      ///< κ; 0 (or less): no clip, ν = 1
  int32_t WarmupSteps = 20;   ///< invert every step while step < WarmupSteps
  int32_t RefreshInterval = 10; ///< then every RefreshInterval steps
  bool PlanDriven = false;    ///< refresh through the plan's tasks (see above)

  /// Whether the step after \p Steps steps recomputes the inverses.
  bool refreshDue(int64_t Steps) const {
    return Steps < WarmupSteps || (Steps - WarmupSteps) % std::max(1, RefreshInterval) == 0;
  }
};

template <typename T> class KfacOptimizer : public Optimizer<T> {
public:
  /// K-FAC for \p Layers, whose parameters must be among \p Params.
  KfacOptimizer(ParamList<T> Params, std::vector<Linear<T> *> Layers, const KfacOptions &O);

  std::string_view name() const override { return "kfac"; }
  void setLearningRate(double Lr) override { Opts.Sgd.Lr = Lr; }
  double learningRate() const override { return Opts.Sgd.Lr; }
  /// Also preconditions \p E's tables (see above); their parameters must be
  /// among the optimizer's.
  void setEmbedding(Embedding<T> *E);
  /// The token table's factors and the position table's (setEmbedding).
  const EmbeddingFactors<T> *embeddingFactors(bool Position = false) const {
    return EmbedFactors.empty() ? nullptr : &EmbedFactors[Position];
  }
  /// A += āāᵀ over micro-batch \p Mb's saved input of layer \p Layer.
  void curvatureA(size_t Layer, int32_t Mb);
  /// G += ĝĝᵀ over \p Mb's saved output gradient, made with loss scale \p Scale.
  void curvatureB(size_t Layer, int32_t Mb, T Scale);
  /// Both, for every layer and every micro-batch the layers hold.
  void curvatureAll(T Scale);
  /// Whether the next step() recomputes the inverses.
  bool refreshDue() const { return Opts.refreshDue(Steps); }
  /// Clips the directions with their own ν and updates. Sharded: updates
  /// the shard along the gradients (after prepare()), ν = 1.
  void step() override;
  /// Updates with KL-clip factor \p Nu instead (computed across stages);
  /// sharded: the shard, its K-FAC layers' directions scaled by \p Nu.
  void stepWithClip(double Nu);
  /// Sharded with the clip on: the flat vector (the stage's size) that
  /// prepare() fills with the K-FAC layers' raw gradients, for the
  /// reduce-scatter to sum; null otherwise.
  std::vector<T> *clipGradient() { return ClipGrad.empty() ? nullptr : &ClipGrad; }
  /// Sharded, after the reduce-scatter: Σ⟨Δ, V⟩ over the shard (kept as
  /// deltaDotV()).
  double shardDeltaDotV();
  /// ZeRO (see above): false, and nothing changed, unless plan-driven and
  /// without the embedding.
  bool shard(int64_t Begin, int64_t End) override;
  bool sharded() const { return Sharded; }
  /// Momentum elements held (the factors and inverses, the same on every
  /// replica of a stage, are not counted).
  int64_t stateElements() const override;

  /// Plan-driven mode: computes (and keeps for the next step) the
  /// preconditioned directions with the active inverses, not yet clipped.
  /// Sharded: writes them into the K-FAC layers' gradients instead.
  void prepare();
  bool prepared() const { return !Prepared.empty(); }
  /// Σ⟨Δ, V⟩ over the layers of the directions computed last.
  double deltaDotV() const { return SumDeltaDotV; }
  /// Damped inverses of layer \p Layer's current averages, kept pending.
  void invertPending(size_t Layer);
  /// Pending inverses become the active ones.
  void activatePending();
  /// Folds every layer's sums and inverts them now, active at once (the
  /// executor's warm-up of per-step refreshes).
  void refreshAll();
  /// Index of \p L among the K-FAC layers, or -1.
  int64_t indexOf(const Linear<T> *L) const;
  Linear<T> *layer(size_t I) const { return Layers[I]; }
  KfacFactors<T> &mutableFactors(size_t Layer) { return Factors[Layer]; }
  const KfacOptions &options() const { return Opts; }
  KfacOptions &mutableOptions() { return Opts; }

  size_t numLayers() const { return Layers.size(); }
  const KfacFactors<T> &factors(size_t Layer) const { return Factors[Layer]; }
  /// ν of the last step.
  double lastClip() const { return Clip; }

private:
  ParamList<T> Params;
  std::vector<Linear<T> *> Layers;
  KfacOptions Opts;
  std::vector<KfacFactors<T>> Factors;
  std::vector<Tensor<T>> Bufs;
  /// Index in Params of each layer's weight and bias (-1 without bias).
  std::vector<std::pair<int64_t, int64_t>> ParamIndex;
  int64_t Steps = 0;
  double Clip = 1, SumDeltaDotV = 0;
  /// Pending inverses (A⁻¹, G⁻¹) per layer, empty when none.
  std::vector<std::pair<Tensor<T>, Tensor<T>>> Pending;
  /// Unclipped directions for the next step, empty when not computed yet,
  /// and the layers among them that were preconditioned.
  std::vector<Tensor<T>> Prepared;
  std::vector<size_t> Preconditioned;

  /// The embedding (setEmbedding): its factors (token, position), the
  /// index in Params of each table, and whether the next step re-inverts.
  Embedding<T> *Embed = nullptr;
  std::vector<EmbeddingFactors<T>> EmbedFactors;
  std::array<int64_t, 2> EmbedParams{-1, -1};
  bool EmbedRefresh = false;

  /// ZeRO: the flat range updated and its momentum (Bufs then unused).
  bool Sharded = false;
  int64_t ShardBegin = 0, ShardEnd = 0;
  std::vector<T> ShardBuf;
  /// With the clip: the raw gradients of the K-FAC layers prepare()
  /// preconditioned (flat, zero elsewhere), and per parameter whether its
  /// direction is Δ (scaled by ν) or its gradient.
  std::vector<T> ClipGrad;
  std::vector<char> Clipped;

  /// Fills Prepared, Preconditioned and SumDeltaDotV.
  void directions(bool Refresh);
  /// The embedding's part of directions().
  void embeddingDirections(bool Refresh);
};

extern template class KfacOptimizer<float>;
extern template class KfacOptimizer<double>;

} // namespace pfc::interp

#endif
