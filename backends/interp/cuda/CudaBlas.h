//===- CudaBlas.h - row-major cuBLAS and cuSOLVER wrappers -----------------===//
//
// The GPU counterparts of Blas.h, with the same row-major arguments so the
// CUDA layers read like the CPU ones. cuBLAS is column-major: a row-major
// C = op(A) op(B) is computed as the column-major Cᵀ = op(B)ᵀ op(A)ᵀ, which
// only swaps the operands. The strided-batched form serves the per-head
// attention products (one head's block of Q is Q + h·d with leading
// dimension Hidden). Every call is status-checked (CudaCheck.h).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDABLAS_H
#define PFC_BACKENDS_INTERP_CUDA_CUDABLAS_H

#include "DeviceTensor.h"
#include "Lane.h"

#include "backends/interp/Blas.h"

namespace pfc::interp::cuda {

/// C = Alpha · op(A) op(B) + Beta · C, op(A) M x K, op(B) K x N, row-major.
template <typename T>
void gemm(Lane &L, Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, T Alpha, const T *A,
          int64_t Lda, const T *B, int64_t Ldb, T Beta, T *C, int64_t Ldc);

/// \p Batch independent GEMMs; operand i starts at A + i·StrideA (etc.).
template <typename T>
void gemmStridedBatched(Lane &L, Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, T Alpha,
                        const T *A, int64_t Lda, int64_t StrideA, const T *B, int64_t Ldb,
                        int64_t StrideB, T Beta, T *C, int64_t Ldc, int64_t StrideC,
                        int64_t Batch);

/// C = Alpha · Aᵀ A + Beta · C for A [Rows, N] (C is N x N, both triangles).
template <typename T>
void gram(Lane &L, int64_t Rows, int64_t N, T Alpha, const T *A, int64_t Lda, T Beta, T *C);

/// Replaces the SPD N x N matrix A by its inverse (cuSOLVER potrf + potri,
/// both triangles filled). False when A is not numerically positive
/// definite (cuSOLVER's info > 0); waits for the lane to read info.
template <typename T> bool choleskyInverse(Lane &L, T *A, int64_t N);

/// Matrix form on the tensors' matrix views, as Blas.h's matmul.
template <typename T>
void matmul(Lane &L, const DeviceTensor<T> &A, Trans TA, const DeviceTensor<T> &B, Trans TB,
            DeviceTensor<T> &C, T Alpha = T(1), T Beta = T(0)) {
  const int64_t M = TA == Trans::No ? A.rows() : A.cols();
  const int64_t K = TA == Trans::No ? A.cols() : A.rows();
  const int64_t N = TB == Trans::No ? B.cols() : B.rows();
  assert(K == (TB == Trans::No ? B.rows() : B.cols()) && "matmul: inner sizes differ");
  assert(C.rows() == M && C.cols() == N && "matmul: result has the wrong size");
  gemm(L, TA, TB, M, N, K, Alpha, A.data(), A.cols(), B.data(), B.cols(), Beta, C.data(),
       C.cols());
}

} // namespace pfc::interp::cuda

#endif
