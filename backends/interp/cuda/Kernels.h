//===- Kernels.h - the CUDA backend's own kernels --------------------------===//
//
// Everything the CUDA backend computes that is not a GEMM or a Cholesky
// factorisation, as launchers on a stream (float and double). Each kernel
// follows its CPU counterpart's formula (LayerNorm.cpp, Gelu.cpp,
// Attention.cpp, Loss.cpp, Embedding.cpp, Kfac.cpp, Optimizer.cpp) so the
// backends agree to rounding. Matrices are row-major. Sums over rows into a
// parameter gradient (bias, LayerNorm γ/β, embedding tables) are
// deterministic, without atomics: column sums add fixed chunks of rows in
// order and then the chunks in order; the token table's scatter-add walks,
// per distinct id, that id's rows in order (a CSR list built on the host
// from the token ids). Launch failures are recorded (CudaCheck.h).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_KERNELS_H
#define PFC_BACKENDS_INTERP_CUDA_KERNELS_H

#include <cuda_runtime.h>

#include <cstdint>

namespace pfc::interp::cuda {

/// Y += Alpha · X.
template <typename T> void axpy(T *Y, const T *X, int64_t N, T Alpha, cudaStream_t S);
/// X *= Alpha.
template <typename T> void scale(T *X, int64_t N, T Alpha, cudaStream_t S);
/// Element-wise precision conversion.
template <typename To, typename From> void cast(const From *X, To *Y, int64_t N, cudaStream_t S);
/// Every row of Y ([Rows, Cols]) set to \p Row.
template <typename T> void broadcastRows(T *Y, const T *Row, int64_t Rows, int64_t Cols,
                                         cudaStream_t S);
/// Out[j] += Σ_r X[r, j] (chunks of rows in order; a stream-ordered
/// temporary holds the chunks' partial sums).
template <typename T> void addColumnSums(T *Out, const T *X, int64_t Rows, int64_t Cols,
                                         cudaStream_t S);
/// *Out = Σ A[i]·B[i] accumulated in double (Out is device memory; the
/// summation order is fixed for a given N).
template <typename T> void dotDouble(const T *A, const T *B, int64_t N, double *Out,
                                     cudaStream_t S);

/// LayerNorm forward per row: Xhat = (x − mean)·rstd, Y = γ ⊙ Xhat + β.
template <typename T>
void layerNormForward(const T *X, const T *Gamma, const T *Beta, T *Y, T *Xhat, T *Rstd,
                      int64_t Rows, int64_t H, double Eps, cudaStream_t S);
/// dX = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)) with g = dY ⊙ γ.
template <typename T>
void layerNormBackward(const T *DY, const T *Xhat, const T *Rstd, const T *Gamma, T *DX,
                       int64_t Rows, int64_t H, cudaStream_t S);
/// Z = X ⊙ Y.
template <typename T> void multiply(const T *X, const T *Y, T *Z, int64_t N, cudaStream_t S);

/// GELU (tanh approximation) and its exact derivative.
template <typename T> void geluForward(const T *X, T *Y, int64_t N, cudaStream_t S);
template <typename T> void geluBackward(const T *X, const T *DY, T *DX, int64_t N,
                                        cudaStream_t S);

/// In place on scores [Rows, Seq] whose row r is query position r % Seq:
/// softmax over columns j ≤ r % Seq, zero beyond.
template <typename T> void causalSoftmaxForward(T *P, int64_t Rows, int64_t Seq, cudaStream_t S);
/// In place on DP: DP ← P ⊙ (DP − Σ_{j ≤ i} DP·P) · Scale.
template <typename T>
void causalSoftmaxBackward(const T *P, T *DP, int64_t Rows, int64_t Seq, T Scale,
                           cudaStream_t S);

/// Per row: Loss[r] = logsumexp − Logits[r, t]; DLogits (may be null) =
/// Scale · (softmax − onehot).
template <typename T>
void crossEntropy(const T *Logits, const int32_t *Targets, T Scale, T *Loss, T *DLogits,
                  int64_t Rows, int64_t V, cudaStream_t S);

/// Y[r] = Token[Ids[r]] + Position[r % Seq].
template <typename T>
void embeddingForward(const T *Token, const T *Position, const int32_t *Ids, T *Y, int64_t Rows,
                      int64_t H, int64_t Seq, cudaStream_t S);
/// DToken[v] += Σ_{r: Ids[r] = v} DY[r], DPosition[t] += Σ_{r ≡ t} DY[r].
/// \p Csr packs the rows of each distinct id: Csr[0, U) the U ids,
/// Csr[U, 2U+1) offsets into Csr[2U+1, 2U+1+Rows), the rows grouped by id,
/// ascending within an id (CudaLayers.cpp builds it from the host ids).
template <typename T>
void embeddingBackward(const T *DY, const int32_t *Csr, int64_t Unique, T *DToken, T *DPosition,
                       int64_t Rows, int64_t H, int64_t Seq, cudaStream_t S);

/// Bar = [X | 1] ([Rows, In + 1]).
template <typename T> void appendOnes(const T *X, T *Bar, int64_t Rows, int64_t In,
                                      cudaStream_t S);
/// Avg = Sum·Inv (First) or Decay·Avg + OneMinusDecay·Sum·Inv.
template <typename T>
void emaFold(T *Avg, const T *Sum, int64_t N, T Inv, T Decay, T OneMinusDecay, bool First,
             cudaStream_t S);
/// A[i, i] += V for the N x N matrix A.
template <typename T> void addDiagonal(T *A, int64_t N, T V, cudaStream_t S);
/// Copies the lower triangle of the row-major N x N matrix A into the upper.
template <typename T> void mirrorLower(T *A, int64_t N, cudaStream_t S);
/// *Out = Σ A[i, i] in double (as dotDouble).
template <typename T> void diagonalSum(const T *A, int64_t N, double *Out, cudaStream_t S);

/// SGD with momentum: Buf = μ Buf + Dir + wd·P, P −= η Buf.
template <typename T>
void sgdMomentum(T *P, const T *Dir, T *Buf, int64_t N, T Lr, T Momentum, T WeightDecay,
                 cudaStream_t S);
/// AdamW step (Optimizer.cpp), in double; C1, C2 the bias corrections.
template <typename T>
void adamW(T *P, const T *G, T *M, T *V, int64_t N, double Lr, double Beta1, double Beta2,
           double Eps, double WeightDecay, double C1, double C2, cudaStream_t S);

} // namespace pfc::interp::cuda

#endif
