//===- Blas.h - typed wrappers over CBLAS and LAPACKE (OpenBLAS) -----------===//
//
// Every large product and factorisation of the CPU interpreter goes through
// these wrappers, so the kernels never hand-write a GEMM loop and the same
// call sites serve float and double. Matrices are row-major with explicit
// leading dimensions, which lets a kernel address a strided block of a bigger
// array (one attention head's columns of Q, say) without copying.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_BLAS_H
#define PFC_BACKENDS_INTERP_BLAS_H

#include "Tensor.h"

#include <cstdint>

namespace pfc::interp {

enum class Trans { No, Yes };

/// C = Alpha * op(A) * op(B) + Beta * C with op(A) M x K, op(B) K x N, all
/// row-major with leading dimensions Lda, Ldb, Ldc.
void gemm(Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, float Alpha, const float *A,
          int64_t Lda, const float *B, int64_t Ldb, float Beta, float *C, int64_t Ldc);
void gemm(Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, double Alpha, const double *A,
          int64_t Lda, const double *B, int64_t Ldb, double Beta, double *C, int64_t Ldc);

/// C = Alpha * Aᵀ A + Beta * C for A with N columns (C is N x N); both
/// triangles of C are filled.
void gram(int64_t Rows, int64_t N, float Alpha, const float *A, int64_t Lda, float Beta,
          float *C);
void gram(int64_t Rows, int64_t N, double Alpha, const double *A, int64_t Lda, double Beta,
          double *C);

/// Replaces the symmetric positive definite N x N matrix A by its inverse
/// (Cholesky: potrf then potri; both triangles filled). Returns false, with A
/// destroyed, when A is not numerically positive definite.
bool choleskyInverse(float *A, int64_t N);
bool choleskyInverse(double *A, int64_t N);

/// Threads OpenBLAS may use per call. The interpreter runs one thread per
/// plan device and sets this to 1 so devices do not oversubscribe the cores.
void setBlasThreads(int N);

/// Matrix form: C = Alpha * op(A) op(B) + Beta * C on the tensors' matrix
/// views (rows() x cols()). C must already have the result's size.
template <typename T>
void matmul(const Tensor<T> &A, Trans TA, const Tensor<T> &B, Trans TB, Tensor<T> &C,
            T Alpha = T(1), T Beta = T(0)) {
  const int64_t M = TA == Trans::No ? A.rows() : A.cols();
  const int64_t K = TA == Trans::No ? A.cols() : A.rows();
  const int64_t N = TB == Trans::No ? B.cols() : B.rows();
  assert(K == (TB == Trans::No ? B.rows() : B.cols()) && "matmul: inner sizes differ");
  assert(C.rows() == M && C.cols() == N && "matmul: result has the wrong size");
  gemm(TA, TB, M, N, K, Alpha, A.data(), A.cols(), B.data(), B.cols(), Beta, C.data(),
       C.cols());
}

/// op(A) op(B) as a new rows x cols matrix.
template <typename T>
Tensor<T> matmul(const Tensor<T> &A, Trans TA, const Tensor<T> &B, Trans TB) {
  Tensor<T> C = Tensor<T>::matrix(TA == Trans::No ? A.rows() : A.cols(),
                                  TB == Trans::No ? B.cols() : B.rows());
  matmul(A, TA, B, TB, C);
  return C;
}

} // namespace pfc::interp

#endif
