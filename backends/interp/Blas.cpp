//===- Blas.cpp - typed wrappers over CBLAS and LAPACKE (OpenBLAS) ---------===//
//
// The only file that includes cblas.h and lapacke.h. CBLAS takes int sizes;
// the interpreter's problems are far below 2^31 elements per dimension, which
// the asserts check.
//
//===----------------------------------------------------------------------===//
#include "Blas.h"

#include <cblas.h>
#include <lapacke.h>

#include <limits>

namespace pfc::interp {
namespace {

int narrow(int64_t V) {
  assert(V >= 0 && V <= std::numeric_limits<int>::max() && "BLAS size out of range");
  return static_cast<int>(V);
}

CBLAS_TRANSPOSE cblasTrans(Trans T) { return T == Trans::No ? CblasNoTrans : CblasTrans; }

/// Copies the lower triangle of a row-major N x N matrix into the upper one.
template <typename T> void mirrorLower(T *A, int64_t N) {
  for (int64_t I = 0; I < N; ++I)
    for (int64_t J = I + 1; J < N; ++J)
      A[I * N + J] = A[J * N + I];
}

} // namespace

void gemm(Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, float Alpha, const float *A,
          int64_t Lda, const float *B, int64_t Ldb, float Beta, float *C, int64_t Ldc) {
  if (M == 0 || N == 0)
    return;
  cblas_sgemm(CblasRowMajor, cblasTrans(TA), cblasTrans(TB), narrow(M), narrow(N), narrow(K),
              Alpha, A, narrow(Lda), B, narrow(Ldb), Beta, C, narrow(Ldc));
}

void gemm(Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, double Alpha, const double *A,
          int64_t Lda, const double *B, int64_t Ldb, double Beta, double *C, int64_t Ldc) {
  if (M == 0 || N == 0)
    return;
  cblas_dgemm(CblasRowMajor, cblasTrans(TA), cblasTrans(TB), narrow(M), narrow(N), narrow(K),
              Alpha, A, narrow(Lda), B, narrow(Ldb), Beta, C, narrow(Ldc));
}

void gram(int64_t Rows, int64_t N, float Alpha, const float *A, int64_t Lda, float Beta,
          float *C) {
  cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, narrow(N), narrow(Rows), Alpha, A,
              narrow(Lda), Beta, C, narrow(N));
  mirrorLower(C, N);
}

void gram(int64_t Rows, int64_t N, double Alpha, const double *A, int64_t Lda, double Beta,
          double *C) {
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, narrow(N), narrow(Rows), Alpha, A,
              narrow(Lda), Beta, C, narrow(N));
  mirrorLower(C, N);
}

bool choleskyInverse(float *A, int64_t N) {
  if (LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'L', narrow(N), A, narrow(N)) != 0)
    return false;
  if (LAPACKE_spotri(LAPACK_ROW_MAJOR, 'L', narrow(N), A, narrow(N)) != 0)
    return false;
  mirrorLower(A, N);
  return true;
}

bool choleskyInverse(double *A, int64_t N) {
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', narrow(N), A, narrow(N)) != 0)
    return false;
  if (LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', narrow(N), A, narrow(N)) != 0)
    return false;
  mirrorLower(A, N);
  return true;
}

void setBlasThreads(int N) { openblas_set_num_threads(N); }

} // namespace pfc::interp
