//===- Kfac.h - K-FAC curvature factors, damping, inversion, precondition --===//
//
// Per Linear layer with input x (in) and output y (out), bias as a
// homogeneous coordinate ā = [x; 1] and W̄ = [W | b] ([out, in+1]).
//
// Scale convention (write it down, test it): the loss a step minimises is the
// mean of per-token losses ℓᵢ over the R token rows of the step ("expand":
// every token of every sequence is a row). Backward hands each Linear
// gᵢ = Scale · ∂ℓᵢ/∂yᵢ with Scale = 1/R (Loss.h). The factors are
//   A = (1/R) Σᵢ āᵢ āᵢᵀ,   G = (1/R) Σᵢ ĝᵢ ĝᵢᵀ  with ĝᵢ = gᵢ / Scale,
// so for one token A ⊗ G is exactly that token's Fisher block, and the
// natural-gradient step for the step's gradient V = Σᵢ gᵢ āᵢᵀ is
// G⁻¹ V A⁻¹. Raw sums Σāāᵀ, Σĝĝᵀ and their row counts are accumulated per
// micro-batch and normalised once per step, so uneven micro-batches give
// the one-batch factors (and data-parallel replicas can all-reduce sums and
// counts before normalising).
//
// Running average: F ← ρ F + (1 − ρ) F_step, the first step taking F_step
// as it is. Damping (π-damping, Martens & Grosse 2015): with
// π = sqrt((tr A / dim A) / (tr G / dim G)), invert A + π√λ I and
// G + (√λ/π) I by Cholesky; an fp32 factorisation that fails is retried in
// fp64.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_KFAC_H
#define PFC_BACKENDS_INTERP_KFAC_H

#include "Tensor.h"

#include <utility>
#include <vector>

namespace pfc::interp {

template <typename T> struct KfacFactors {
  bool Bias = true;
  /// This step's raw sums and the rows they cover.
  Tensor<T> SumA, SumG;
  int64_t RowsA = 0, RowsG = 0;
  /// Running averages (valid once HasAverage) and damped inverses.
  Tensor<T> A, G;
  bool HasAverage = false;
  Tensor<T> AInv, GInv;
  bool HasInverse = false;
  /// Cholesky factorisations that needed the fp64 retry.
  int32_t Fp64Retries = 0;

  KfacFactors(int64_t In, int64_t Out, bool HasBias);
};

/// SumA += Σ āāᵀ over the rows of \p X ([rows, in]); RowsA += rows.
template <typename T> void accumulateA(KfacFactors<T> &F, const Tensor<T> &X);
/// SumG += Σ ĝĝᵀ with ĝ = row of \p DY / \p Scale (see above); RowsG += rows.
template <typename T> void accumulateG(KfacFactors<T> &F, const Tensor<T> &DY, T Scale);
/// Folds this step's normalised factors into the running averages with
/// decay \p Decay and clears the sums. A factor with no rows is left as is.
template <typename T> void updateAverages(KfacFactors<T> &F, double Decay);
/// The same for A alone (resp. G alone): the plan's INVERT_A and INVERT_B
/// tasks fold their factor once its curvature is complete, independently.
template <typename T> void updateAverageA(KfacFactors<T> &F, double Decay);
template <typename T> void updateAverageG(KfacFactors<T> &F, double Decay);

/// Rows [Piece·R/Pieces, (Piece+1)·R/Pieces) of \p X's R rows: curvature
/// piece \p Piece of \p Pieces (all of \p X when Pieces <= 1).
template <typename T> Tensor<T> pieceRows(const Tensor<T> &X, int32_t Piece, int32_t Pieces);
/// FACTOR_ALL_REDUCE: every member's raw sums and row counts become their
/// sum over \p Members, added in member order.
template <typename T> void sumReplicaFactors(const std::vector<KfacFactors<T> *> &Members);

/// π = sqrt((tr A / dim A) / (tr G / dim G)); 1 when either trace is 0.
template <typename T> double piDamping(const Tensor<T> &A, const Tensor<T> &G);
/// (M + Damping·I)⁻¹ by Cholesky, retried in fp64 when T's fails. False if
/// both fail. \p Retried is set when the fp64 retry was used.
template <typename T>
bool dampedInverse(const Tensor<T> &M, double Damping, Tensor<T> &Out, bool *Retried = nullptr);
/// Damped inverses of the running averages with π-damping and strength
/// \p Lambda (λ). False when a factor cannot be inverted.
template <typename T> bool invertFactors(KfacFactors<T> &F, double Lambda);

/// Plan-driven refresh, for either backend's factors \p F (KfacOptimizer):
/// inverts \p F's averages with \p Invert (the backend's invertFactors) into
/// \p Pending, leaving the active inverses as they were. Nothing without an
/// average.
template <typename FactorsT, typename TensorT, typename InvertFn>
void invertIntoPending(FactorsT &F, std::pair<TensorT, TensorT> &Pending, InvertFn &&Invert) {
  if (!F.HasAverage)
    return;
  // invertFactors writes the active inverses: compute there, then swap back.
  TensorT AInv = std::move(F.AInv), GInv = std::move(F.GInv);
  const bool Had = F.HasInverse;
  if (Invert(F))
    Pending = {std::move(F.AInv), std::move(F.GInv)};
  F.AInv = std::move(AInv), F.GInv = std::move(GInv), F.HasInverse = Had;
}
/// \p Pending (if any) becomes \p F's active inverses and is emptied.
template <typename FactorsT, typename TensorT>
void activatePending(FactorsT &F, std::pair<TensorT, TensorT> &Pending) {
  if (Pending.first.empty())
    return;
  F.AInv = std::move(Pending.first), F.GInv = std::move(Pending.second);
  F.HasInverse = true;
  Pending = {};
}

/// Δ = G⁻¹ V A⁻¹ for V = [dW | db] ([out, in+1]); two GEMMs.
template <typename T>
Tensor<T> precondition(const Tensor<T> &GInv, const Tensor<T> &V, const Tensor<T> &AInv);
/// KL clip: ν = min(1, sqrt(κ / (η² Σ⟨Δ, V⟩))) over all preconditioned
/// layers; 1 when the sum is not positive, and when κ <= 0 (no clip).
double klClipFactor(double SumDeltaDotV, double Lr, double Kappa);

/// K-FAC for an embedding table looked up by index (the token table by
/// token id, the position table by position). A lookup is a Linear layer
/// whose input is one-hot, so its A factor is diagonal: aᵥ = (rows that
/// looked up entry v) / R, kept as a vector; G is a Linear layer's,
/// (1/R) Σ ĝĝᵀ over the table's output gradients. π-damping as above with
/// tr A / dim A = mean of a; Δ = diag(a + π√λ)⁻¹ V (G + (√λ/π) I)⁻¹ for the
/// table's gradient V ([entries, hidden]): rarely seen rows move further,
/// which is what first-order methods (Adam's per-coordinate scale aside)
/// lack on a language model's long-tailed tokens.
template <typename T> struct EmbeddingFactors {
  Tensor<T> SumA, SumG; ///< counts per entry [entries]; Σ ĝĝᵀ
  int64_t RowsA = 0, RowsG = 0;
  Tensor<T> A, G;
  bool HasAverage = false;
  Tensor<T> AInv, GInv; ///< 1 / (aᵥ + π√λ) [entries]; (G + (√λ/π) I)⁻¹
  bool HasInverse = false;

  EmbeddingFactors(int64_t Entries, int64_t Hidden);
};

/// SumA[Index[r]] += 1 for each row r; RowsA += rows.
template <typename T>
void accumulateEmbeddingA(EmbeddingFactors<T> &F, const std::vector<int32_t> &Index);
/// SumG += Σ ĝĝᵀ with ĝ = row of \p DY / \p Scale; RowsG += rows.
template <typename T>
void accumulateEmbeddingG(EmbeddingFactors<T> &F, const Tensor<T> &DY, T Scale);
/// Running averages with decay \p Decay, as updateAverages.
template <typename T> void updateEmbeddingAverages(EmbeddingFactors<T> &F, double Decay);
/// Damped inverses with π-damping and strength \p Lambda. False when G
/// cannot be inverted.
template <typename T> bool invertEmbeddingFactors(EmbeddingFactors<T> &F, double Lambda);
/// Δ = diag(AInv) V GInv for the table's gradient \p V ([entries, hidden]).
template <typename T>
Tensor<T> preconditionEmbedding(const EmbeddingFactors<T> &F, const Tensor<T> &V);

/// [W | b] as one [out, in+1] matrix (just W without a bias).
template <typename T> Tensor<T> joinWeightBias(const Tensor<T> &W, const Tensor<T> *B);
/// Splits [W | b] back into \p W and \p B (if non-null).
template <typename T> void splitWeightBias(const Tensor<T> &V, Tensor<T> &W, Tensor<T> *B);

} // namespace pfc::interp

#endif
