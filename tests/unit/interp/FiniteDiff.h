//===- FiniteDiff.h - central finite differences for gradient checks -------===//
//
// The error measure is max_i |analytic_i − numeric_i| / max_i |analytic_i|,
// the largest deviation relative to the tensor's largest gradient entry:
// robust where single entries are near zero, and still fails on any wrong
// entry of meaningful size. A gradient that is identically zero (the key
// projection's bias: softmax ignores a per-row constant) is compared in
// absolute terms instead. In fp64 with ε = 1e-6 the truncation error is
// O(ε²) and the round-off O(1e-16/ε), so correct kernels land near 1e-9.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_TESTS_UNIT_INTERP_FINITEDIFF_H
#define PFC_TESTS_UNIT_INTERP_FINITEDIFF_H

#include "backends/interp/Random.h"
#include "backends/interp/Tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

namespace pfc::interp::test {

/// Checks \p Analytic against central differences of \p F in each entry of
/// \p X (perturbed in place and restored). Returns the relative error above.
inline double gradientError(const std::function<double()> &F, Tensor<double> &X,
                            const Tensor<double> &Analytic, double Eps = 1e-6) {
  double MaxDiff = 0, MaxRef = 0;
  for (int64_t I = 0; I < X.numel(); ++I) {
    const double Saved = X[I];
    X[I] = Saved + Eps;
    const double Up = F();
    X[I] = Saved - Eps;
    const double Down = F();
    X[I] = Saved;
    const double Numeric = (Up - Down) / (2 * Eps);
    MaxDiff = std::max(MaxDiff, std::abs(Numeric - Analytic[I]));
    MaxRef = std::max(MaxRef, std::abs(Analytic[I]));
  }
  return MaxRef > 1e-8 ? MaxDiff / MaxRef : MaxDiff;
}

/// A tensor of the given shape with N(0, 1) entries from \p Seed.
inline Tensor<double> randomTensor(std::vector<int64_t> Shape, uint64_t Seed,
                                   double Std = 1.0) {
  Tensor<double> X(std::move(Shape));
  Rng R(Seed);
  fillNormal(X, R, Std);
  return X;
}

/// The largest |A - B| over the entries; infinite when the sizes differ, so
/// that any tolerance check fails.
inline double maxAbsDiff(const Tensor<double> &A, const Tensor<double> &B) {
  if (A.numel() != B.numel())
    return HUGE_VAL;
  double M = 0;
  for (int64_t I = 0; I < A.numel(); ++I)
    M = std::max(M, std::abs(A[I] - B[I]));
  return M;
}

/// Prints a measured error (ctest -V shows it).
inline void noteError(const char *What, double Err) {
  std::printf("  %-44s error %.3e\n", What, Err);
}

} // namespace pfc::interp::test

#endif
