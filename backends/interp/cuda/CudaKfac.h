//===- CudaKfac.h - K-FAC factor math on the GPU ---------------------------===//
//
// The GPU twin of Kfac.h, same conventions (read them there): ā = [x; 1],
// raw sums Σāāᵀ and Σĝĝᵀ (ĝ = g / Scale) with row counts, normalised once
// per step into running averages F ← ρF + (1 − ρ)F_step (the first step
// takes F_step), π-damping, Cholesky inverses by cuSOLVER (potrf + potri)
// with the fp32 → fp64 retry, and Δ = G⁻¹ V A⁻¹ by two cuBLAS GEMMs. Sums
// are cuBLAS GEMMs (Aᵀ A) accumulating into the factor (Beta = 1).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAKFAC_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAKFAC_H

#include "DeviceTensor.h"
#include "Lane.h"

#include "backends/interp/Kfac.h"

namespace pfc::interp::cuda {

template <typename T> struct DeviceFactors {
  bool Bias = true;
  DeviceTensor<T> SumA, SumG;
  int64_t RowsA = 0, RowsG = 0;
  DeviceTensor<T> A, G;
  bool HasAverage = false;
  DeviceTensor<T> AInv, GInv;
  bool HasInverse = false;
  int32_t Fp64Retries = 0;

  /// Zero sums for a layer with \p In inputs and \p Out outputs.
  DeviceFactors(int64_t In, int64_t Out, bool HasBias, Lane &L);
};

/// SumA += Σ āāᵀ over the rows of \p X; RowsA += rows.
template <typename T> void accumulateA(Lane &L, DeviceFactors<T> &F, const DeviceTensor<T> &X);
/// SumG += Σ ĝĝᵀ with ĝ = row of \p DY / \p Scale; RowsG += rows.
template <typename T>
void accumulateG(Lane &L, DeviceFactors<T> &F, const DeviceTensor<T> &DY, T Scale);
/// Kfac.h's updateAverageA / updateAverageG / updateAverages.
template <typename T> void updateAverageA(Lane &L, DeviceFactors<T> &F, double Decay);
template <typename T> void updateAverageG(Lane &L, DeviceFactors<T> &F, double Decay);
template <typename T> void updateAverages(Lane &L, DeviceFactors<T> &F, double Decay);
/// Kfac.h's pieceRows (a copy on the lane, also for one piece).
template <typename T>
DeviceTensor<T> pieceRows(Lane &L, const DeviceTensor<T> &X, int32_t Piece, int32_t Pieces);
/// Kfac.h's sumReplicaFactors on the lane, which it synchronises.
template <typename T>
void sumReplicaFactors(Lane &L, const std::vector<DeviceFactors<T> *> &Members);
/// π = sqrt((tr A / dim A) / (tr G / dim G)); 1 when a trace is not positive.
template <typename T>
double piDamping(Lane &L, const DeviceTensor<T> &A, const DeviceTensor<T> &G);
/// (M + Damping·I)⁻¹, retried in fp64 when T's Cholesky fails.
template <typename T>
bool dampedInverse(Lane &L, const DeviceTensor<T> &M, double Damping, DeviceTensor<T> &Out,
                   bool *Retried = nullptr);
/// Damped inverses of the running averages (π-damping, strength λ).
template <typename T> bool invertFactors(Lane &L, DeviceFactors<T> &F, double Lambda);
/// Δ = G⁻¹ V A⁻¹.
template <typename T>
DeviceTensor<T> precondition(Lane &L, const DeviceTensor<T> &GInv, const DeviceTensor<T> &V,
                             const DeviceTensor<T> &AInv);
/// [W | b] ([out, in+1]; just W without a bias) and back.
template <typename T>
DeviceTensor<T> joinWeightBias(Lane &L, const DeviceTensor<T> &W, const DeviceTensor<T> *B);
template <typename T>
void splitWeightBias(Lane &L, const DeviceTensor<T> &V, DeviceTensor<T> &W, DeviceTensor<T> *B);

} // namespace pfc::interp::cuda

#endif
