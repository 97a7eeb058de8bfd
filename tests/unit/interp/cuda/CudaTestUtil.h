//===- CudaTestUtil.h - helpers for the CUDA-vs-CPU tests ------------------===//
//
// Every CUDA test runs the CPU reference on the same inputs and compares in
// fp64 with relDiff: max |gpu − cpu| / max |cpu| (absolute when the
// reference is ~0), which must stay below Tol. Failures recorded by the
// CUDA backend (CudaCheck.h) fail the test through requireNoCudaError.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_TESTS_UNIT_INTERP_CUDA_CUDATESTUTIL_H
#define PFC_TESTS_UNIT_INTERP_CUDA_CUDATESTUTIL_H

#include "../FiniteDiff.h"

#include "backends/interp/cuda/DeviceTensor.h"
#include "backends/interp/cuda/Lane.h"

#include <doctest/doctest.h>

namespace pfc::interp::test {

/// fp64 agreement required between the backends.
constexpr double Tol = 1e-10;

template <typename T> double relDiff(const Tensor<T> &Gpu, const Tensor<T> &Cpu) {
  REQUIRE(Gpu.numel() == Cpu.numel());
  double Diff = 0, Ref = 0;
  for (int64_t I = 0; I < Cpu.numel(); ++I) {
    Diff = std::max(Diff, std::abs(double(Gpu[I]) - double(Cpu[I])));
    Ref = std::max(Ref, std::abs(double(Cpu[I])));
  }
  return Ref > 1e-30 ? Diff / Ref : Diff;
}

inline void requireNoCudaError() {
  const std::string F = cuda::takeFailure();
  REQUIRE_MESSAGE(F.empty(), F);
}

/// A lane for one test case.
inline std::unique_ptr<cuda::Lane> testLane() {
  auto L = cuda::Lane::create();
  REQUIRE_MESSAGE(L != nullptr, cuda::takeFailure());
  return L;
}

template <typename T> cuda::DeviceTensor<T> up(const Tensor<T> &X, cuda::Lane &L) {
  return cuda::DeviceTensor<T>::upload(X, L.stream());
}

template <typename T> Tensor<T> down(const cuda::DeviceTensor<T> &X, cuda::Lane &L) {
  Tensor<T> H = X.download(L.stream());
  requireNoCudaError();
  return H;
}

/// Checks and prints one comparison.
template <typename T>
void expectClose(const char *What, const Tensor<T> &Gpu, const Tensor<T> &Cpu, double Limit = Tol) {
  const double E = relDiff(Gpu, Cpu);
  noteError(What, E);
  CHECK_MESSAGE(E < Limit, What);
}

} // namespace pfc::interp::test

#endif
