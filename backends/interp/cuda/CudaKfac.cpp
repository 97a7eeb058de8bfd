//===- CudaKfac.cpp - K-FAC factor math on the GPU -------------------------===//
#include "CudaKfac.h"

#include "CudaBlas.h"
#include "Kernels.h"

#include <cmath>
#include <type_traits>

namespace pfc::interp::cuda {
namespace {

template <typename T> double trace(Lane &L, const DeviceTensor<T> &M) {
  double *D = nullptr, H = 0;
  if (!PFC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void **>(&D), sizeof(double))))
    return 0;
  diagonalSum(M.data(), M.rows(), D, L.stream());
  if (PFC_CUDA_CHECK(cudaMemcpyAsync(&H, D, sizeof(double), cudaMemcpyDeviceToHost, L.stream())))
    L.sync();
  PFC_CUDA_CHECK(cudaFree(D));
  return H;
}

/// Cholesky inverse of M + Damping·I in precision U.
template <typename U, typename T>
bool tryInverse(Lane &L, const DeviceTensor<T> &M, double Damping, DeviceTensor<U> &Out) {
  Out = DeviceTensor<U>(M.shape());
  if constexpr (std::is_same_v<U, T>)
    Out.copyFrom(M, L.stream());
  else
    cast(M.data(), Out.data(), M.numel(), L.stream());
  addDiagonal(Out.data(), Out.rows(), static_cast<U>(Damping), L.stream());
  return choleskyInverse(L, Out.data(), Out.rows());
}

/// Avg <- Decay Avg + (1 - Decay) Sum / Rows (Sum / Rows the first time);
/// clears Sum and Rows. Nothing happens without rows.
template <typename T>
void fold(Lane &L, DeviceTensor<T> &Avg, DeviceTensor<T> &Sum, int64_t &Rows, double Decay) {
  if (Rows == 0)
    return;
  const T Inv = T(1) / static_cast<T>(Rows);
  const bool First = Avg.empty();
  if (First)
    Avg = DeviceTensor<T>(Sum.shape());
  emaFold(Avg.data(), Sum.data(), Avg.numel(), Inv, static_cast<T>(Decay),
          static_cast<T>(1 - Decay), First, L.stream());
  Sum.zero(L.stream());
  Rows = 0;
}

} // namespace

template <typename T>
DeviceFactors<T>::DeviceFactors(int64_t In, int64_t Out, bool HasBias, Lane &L)
    : Bias(HasBias), SumA(DeviceTensor<T>::zeros({In + HasBias, In + HasBias}, L.stream())),
      SumG(DeviceTensor<T>::zeros({Out, Out}, L.stream())) {}

template <typename T> void accumulateA(Lane &L, DeviceFactors<T> &F, const DeviceTensor<T> &X) {
  const int64_t Dim = F.SumA.rows();
  assert(X.cols() + F.Bias == Dim && "accumulateA: input width differs from the factor's");
  if (!F.Bias) {
    gram(L, X.rows(), Dim, T(1), X.data(), Dim, T(1), F.SumA.data());
  } else {
    DeviceTensor<T> Bar = DeviceTensor<T>::matrix(X.rows(), Dim);
    appendOnes(X.data(), Bar.data(), X.rows(), X.cols(), L.stream());
    gram(L, X.rows(), Dim, T(1), Bar.data(), Dim, T(1), F.SumA.data());
  }
  F.RowsA += X.rows();
}

template <typename T>
void accumulateG(Lane &L, DeviceFactors<T> &F, const DeviceTensor<T> &DY, T Scale) {
  assert(DY.cols() == F.SumG.rows() && "accumulateG: gradient width differs from the factor's");
  gram(L, DY.rows(), DY.cols(), T(1) / (Scale * Scale), DY.data(), DY.cols(), T(1),
       F.SumG.data());
  F.RowsG += DY.rows();
}

template <typename T> void updateAverageA(Lane &L, DeviceFactors<T> &F, double Decay) {
  fold(L, F.A, F.SumA, F.RowsA, Decay);
  F.HasAverage = !F.A.empty() && !F.G.empty();
}

template <typename T> void updateAverageG(Lane &L, DeviceFactors<T> &F, double Decay) {
  fold(L, F.G, F.SumG, F.RowsG, Decay);
  F.HasAverage = !F.A.empty() && !F.G.empty();
}

template <typename T> void updateAverages(Lane &L, DeviceFactors<T> &F, double Decay) {
  updateAverageA(L, F, Decay);
  updateAverageG(L, F, Decay);
}

template <typename T>
double piDamping(Lane &L, const DeviceTensor<T> &A, const DeviceTensor<T> &G) {
  const double TA = trace(L, A) / static_cast<double>(A.rows());
  const double TG = trace(L, G) / static_cast<double>(G.rows());
  if (!(TA > 0) || !(TG > 0))
    return 1.0;
  return std::sqrt(TA / TG);
}

template <typename T>
bool dampedInverse(Lane &L, const DeviceTensor<T> &M, double Damping, DeviceTensor<T> &Out,
                   bool *Retried) {
  if (Retried)
    *Retried = false;
  if (tryInverse<T>(L, M, Damping, Out))
    return true;
  if constexpr (std::is_same_v<T, double>) {
    return false;
  } else {
    if (failed()) // a CUDA error, not an indefinite matrix: no retry
      return false;
    DeviceTensor<double> Wide;
    if (!tryInverse<double>(L, M, Damping, Wide))
      return false;
    Out = DeviceTensor<T>(M.shape());
    cast(Wide.data(), Out.data(), Wide.numel(), L.stream());
    L.sync(); // Wide is freed on return
    if (Retried)
      *Retried = true;
    return true;
  }
}

template <typename T> bool invertFactors(Lane &L, DeviceFactors<T> &F, double Lambda) {
  assert(F.HasAverage && "invertFactors: no curvature yet");
  const double Pi = piDamping(L, F.A, F.G), Root = std::sqrt(Lambda);
  bool RetryA = false, RetryG = false;
  F.HasInverse = dampedInverse(L, F.A, Pi * Root, F.AInv, &RetryA) &&
                 dampedInverse(L, F.G, Root / Pi, F.GInv, &RetryG);
  F.Fp64Retries += RetryA + RetryG;
  return F.HasInverse;
}

template <typename T>
DeviceTensor<T> precondition(Lane &L, const DeviceTensor<T> &GInv, const DeviceTensor<T> &V,
                             const DeviceTensor<T> &AInv) {
  DeviceTensor<T> GV = DeviceTensor<T>::matrix(GInv.rows(), V.cols());
  matmul(L, GInv, Trans::No, V, Trans::No, GV);
  DeviceTensor<T> Delta = DeviceTensor<T>::matrix(GV.rows(), AInv.cols());
  matmul(L, GV, Trans::No, AInv, Trans::No, Delta);
  return Delta;
}

template <typename T>
DeviceTensor<T> joinWeightBias(Lane &L, const DeviceTensor<T> &W, const DeviceTensor<T> *B) {
  if (!B || B->empty())
    return W.clone(L.stream());
  const int64_t Out = W.rows(), In = W.cols();
  DeviceTensor<T> V = DeviceTensor<T>::matrix(Out, In + 1);
  const size_t Sz = sizeof(T);
  PFC_CUDA_CHECK(cudaMemcpy2DAsync(V.data(), (In + 1) * Sz, W.data(), In * Sz, In * Sz,
                                   static_cast<size_t>(Out), cudaMemcpyDeviceToDevice,
                                   L.stream()));
  PFC_CUDA_CHECK(cudaMemcpy2DAsync(V.data() + In, (In + 1) * Sz, B->data(), Sz, Sz,
                                   static_cast<size_t>(Out), cudaMemcpyDeviceToDevice,
                                   L.stream()));
  return V;
}

template <typename T>
void splitWeightBias(Lane &L, const DeviceTensor<T> &V, DeviceTensor<T> &W, DeviceTensor<T> *B) {
  const int64_t Out = W.rows(), In = W.cols();
  const bool HasBias = B && !B->empty();
  assert(V.rows() == Out && V.cols() == In + HasBias && "splitWeightBias: shape mismatch");
  const size_t Sz = sizeof(T), Pitch = static_cast<size_t>(V.cols()) * Sz;
  PFC_CUDA_CHECK(cudaMemcpy2DAsync(W.data(), In * Sz, V.data(), Pitch, In * Sz,
                                   static_cast<size_t>(Out), cudaMemcpyDeviceToDevice,
                                   L.stream()));
  if (HasBias)
    PFC_CUDA_CHECK(cudaMemcpy2DAsync(B->data(), Sz, V.data() + In, Pitch, Sz,
                                     static_cast<size_t>(Out), cudaMemcpyDeviceToDevice,
                                     L.stream()));
}

template <typename T>
DeviceTensor<T> pieceRows(Lane &L, const DeviceTensor<T> &X, int32_t Piece, int32_t Pieces) {
  const int64_t R = X.rows(), C = X.cols();
  const int64_t Begin = Pieces <= 1 ? 0 : R * Piece / Pieces;
  const int64_t End = Pieces <= 1 ? R : R * (Piece + 1) / Pieces;
  DeviceTensor<T> Out = DeviceTensor<T>::matrix(End - Begin, C);
  if (End > Begin && Out.data())
    PFC_CUDA_CHECK(cudaMemcpyAsync(Out.data(), X.data() + Begin * C, Out.bytes(),
                                   cudaMemcpyDeviceToDevice, L.stream()));
  return Out;
}

template <typename T>
void sumReplicaFactors(Lane &L, const std::vector<DeviceFactors<T> *> &Members) {
  DeviceTensor<T> SumA = Members[0]->SumA.clone(L.stream());
  DeviceTensor<T> SumG = Members[0]->SumG.clone(L.stream());
  int64_t RowsA = Members[0]->RowsA, RowsG = Members[0]->RowsG;
  for (size_t R = 1; R < Members.size(); ++R) {
    const DeviceFactors<T> &F = *Members[R];
    axpy(SumA.data(), F.SumA.data(), SumA.numel(), T(1), L.stream());
    axpy(SumG.data(), F.SumG.data(), SumG.numel(), T(1), L.stream());
    RowsA += F.RowsA, RowsG += F.RowsG;
  }
  for (DeviceFactors<T> *F : Members) {
    F->SumA.copyFrom(SumA, L.stream()), F->SumG.copyFrom(SumG, L.stream());
    F->RowsA = RowsA, F->RowsG = RowsG;
  }
  L.sync();
}

#define PFC_CUDA_KFAC_INSTANTIATE(T)                                                         \
  template struct DeviceFactors<T>;                                                          \
  template void accumulateA(Lane &, DeviceFactors<T> &, const DeviceTensor<T> &);            \
  template void accumulateG(Lane &, DeviceFactors<T> &, const DeviceTensor<T> &, T);         \
  template void updateAverageA(Lane &, DeviceFactors<T> &, double);                          \
  template void updateAverageG(Lane &, DeviceFactors<T> &, double);                          \
  template void updateAverages(Lane &, DeviceFactors<T> &, double);                          \
  template DeviceTensor<T> pieceRows(Lane &, const DeviceTensor<T> &, int32_t, int32_t);     \
  template void sumReplicaFactors(Lane &, const std::vector<DeviceFactors<T> *> &);          \
  template double piDamping(Lane &, const DeviceTensor<T> &, const DeviceTensor<T> &);       \
  template bool dampedInverse(Lane &, const DeviceTensor<T> &, double, DeviceTensor<T> &,    \
                              bool *);                                                       \
  template bool invertFactors(Lane &, DeviceFactors<T> &, double);                           \
  template DeviceTensor<T> precondition(Lane &, const DeviceTensor<T> &,                     \
                                        const DeviceTensor<T> &, const DeviceTensor<T> &);   \
  template DeviceTensor<T> joinWeightBias(Lane &, const DeviceTensor<T> &,                   \
                                          const DeviceTensor<T> *);                          \
  template void splitWeightBias(Lane &, const DeviceTensor<T> &, DeviceTensor<T> &,          \
                                DeviceTensor<T> *);
PFC_CUDA_KFAC_INSTANTIATE(float)
PFC_CUDA_KFAC_INSTANTIATE(double)
#undef PFC_CUDA_KFAC_INSTANTIATE

} // namespace pfc::interp::cuda
