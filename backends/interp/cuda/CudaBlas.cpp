//===- CudaBlas.cpp - row-major cuBLAS and cuSOLVER wrappers ---------------===//
//
// Row-major symmetric matrices: the row-major lower triangle is the
// column-major upper one, so Cholesky runs with CUBLAS_FILL_MODE_UPPER and
// the result's row-major lower triangle is mirrored, as Blas.cpp does after
// LAPACK's 'L' potri.
//
//===----------------------------------------------------------------------===//
#include "CudaBlas.h"

#include "Kernels.h"

#include <limits>
#include <type_traits>

namespace pfc::interp::cuda {
namespace {

int narrow(int64_t V) {
  assert(V >= 0 && V <= std::numeric_limits<int>::max() && "cuBLAS size out of range");
  return static_cast<int>(V);
}

cublasOperation_t op(Trans T) { return T == Trans::No ? CUBLAS_OP_N : CUBLAS_OP_T; }

} // namespace

template <typename T>
void gemm(Lane &L, Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, T Alpha, const T *A,
          int64_t Lda, const T *B, int64_t Ldb, T Beta, T *C, int64_t Ldc) {
  if (M == 0 || N == 0)
    return;
  if constexpr (std::is_same_v<T, float>)
    PFC_CUDA_CHECK(cublasSgemm(L.blas(), op(TB), op(TA), narrow(N), narrow(M), narrow(K), &Alpha,
                               B, narrow(Ldb), A, narrow(Lda), &Beta, C, narrow(Ldc)));
  else
    PFC_CUDA_CHECK(cublasDgemm(L.blas(), op(TB), op(TA), narrow(N), narrow(M), narrow(K), &Alpha,
                               B, narrow(Ldb), A, narrow(Lda), &Beta, C, narrow(Ldc)));
}

template <typename T>
void gemmStridedBatched(Lane &L, Trans TA, Trans TB, int64_t M, int64_t N, int64_t K, T Alpha,
                        const T *A, int64_t Lda, int64_t StrideA, const T *B, int64_t Ldb,
                        int64_t StrideB, T Beta, T *C, int64_t Ldc, int64_t StrideC,
                        int64_t Batch) {
  if (M == 0 || N == 0 || Batch == 0)
    return;
  if constexpr (std::is_same_v<T, float>)
    PFC_CUDA_CHECK(cublasSgemmStridedBatched(
        L.blas(), op(TB), op(TA), narrow(N), narrow(M), narrow(K), &Alpha, B, narrow(Ldb),
        StrideB, A, narrow(Lda), StrideA, &Beta, C, narrow(Ldc), StrideC, narrow(Batch)));
  else
    PFC_CUDA_CHECK(cublasDgemmStridedBatched(
        L.blas(), op(TB), op(TA), narrow(N), narrow(M), narrow(K), &Alpha, B, narrow(Ldb),
        StrideB, A, narrow(Lda), StrideA, &Beta, C, narrow(Ldc), StrideC, narrow(Batch)));
}

template <typename T>
void gram(Lane &L, int64_t Rows, int64_t N, T Alpha, const T *A, int64_t Lda, T Beta, T *C) {
  // A GEMM rather than SYRK: both triangles come out filled and symmetric.
  gemm(L, Trans::Yes, Trans::No, N, N, Rows, Alpha, A, Lda, A, Lda, Beta, C, N);
}

template <typename T> bool choleskyInverse(Lane &L, T *A, int64_t N) {
  const cublasFillMode_t Fill = CUBLAS_FILL_MODE_UPPER; // row-major lower
  const int Dim = narrow(N);
  int Work = 0, WorkInv = 0;
  bool Ok;
  if constexpr (std::is_same_v<T, float>)
    Ok = PFC_CUDA_CHECK(cusolverDnSpotrf_bufferSize(L.solver(), Fill, Dim, A, Dim, &Work)) &&
         PFC_CUDA_CHECK(cusolverDnSpotri_bufferSize(L.solver(), Fill, Dim, A, Dim, &WorkInv));
  else
    Ok = PFC_CUDA_CHECK(cusolverDnDpotrf_bufferSize(L.solver(), Fill, Dim, A, Dim, &Work)) &&
         PFC_CUDA_CHECK(cusolverDnDpotri_bufferSize(L.solver(), Fill, Dim, A, Dim, &WorkInv));
  if (!Ok)
    return false;
  const int Lwork = std::max(std::max(Work, WorkInv), 1);
  T *Ws = static_cast<T *>(L.workspace(static_cast<size_t>(Lwork) * sizeof(T)));
  if (!Ws)
    return false;
  auto Info = [&L]() {
    int H = -1;
    if (PFC_CUDA_CHECK(cudaMemcpyAsync(&H, L.info(), sizeof(int), cudaMemcpyDeviceToHost,
                                       L.stream())) &&
        L.sync())
      return H;
    return -1;
  };
  if constexpr (std::is_same_v<T, float>)
    Ok = PFC_CUDA_CHECK(cusolverDnSpotrf(L.solver(), Fill, Dim, A, Dim, Ws, Lwork, L.info()));
  else
    Ok = PFC_CUDA_CHECK(cusolverDnDpotrf(L.solver(), Fill, Dim, A, Dim, Ws, Lwork, L.info()));
  if (!Ok)
    return false;
  if (int I = Info(); I != 0) {
    if (I < 0 && !failed())
      recordFailure("cusolverDn potrf: invalid argument " + std::to_string(-I));
    return false;
  }
  if constexpr (std::is_same_v<T, float>)
    Ok = PFC_CUDA_CHECK(cusolverDnSpotri(L.solver(), Fill, Dim, A, Dim, Ws, Lwork, L.info()));
  else
    Ok = PFC_CUDA_CHECK(cusolverDnDpotri(L.solver(), Fill, Dim, A, Dim, Ws, Lwork, L.info()));
  if (!Ok)
    return false;
  if (int I = Info(); I != 0) {
    if (I < 0 && !failed())
      recordFailure("cusolverDn potri: invalid argument " + std::to_string(-I));
    return false;
  }
  mirrorLower(A, N, L.stream());
  return true;
}

#define PFC_CUDABLAS_INSTANTIATE(T)                                                          \
  template void gemm(Lane &, Trans, Trans, int64_t, int64_t, int64_t, T, const T *, int64_t, \
                     const T *, int64_t, T, T *, int64_t);                                   \
  template void gemmStridedBatched(Lane &, Trans, Trans, int64_t, int64_t, int64_t, T,       \
                                   const T *, int64_t, int64_t, const T *, int64_t, int64_t, \
                                   T, T *, int64_t, int64_t, int64_t);                       \
  template void gram(Lane &, int64_t, int64_t, T, const T *, int64_t, T, T *);               \
  template bool choleskyInverse(Lane &, T *, int64_t);
PFC_CUDABLAS_INSTANTIATE(float)
PFC_CUDABLAS_INSTANTIATE(double)
#undef PFC_CUDABLAS_INSTANTIATE

} // namespace pfc::interp::cuda
