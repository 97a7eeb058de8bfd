//===- GeluTest.cpp - fp32 GELU's rational tanh against std::tanh ----------===//
//
// geluTanh<float> (Gelu.h) replaces std::tanh in fp32: its error against
// std::tanh in double must stay below GeluTanhMaxError, and the GELU and its
// derivative computed with it must stay within the bounds below of a double
// reference that uses std::tanh, over [-20, 20] (past the clamp at
// |u| = 7.9053, reached at |x| ≈ 4.84) and at the extremes of float.
//
//===----------------------------------------------------------------------===//
#include "backends/interp/Gelu.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace pfc::interp;

namespace {

constexpr double Sqrt2OverPi = 0.7978845608028654, Cubic = 0.044715;

double refU(double V) { return Sqrt2OverPi * (V + Cubic * V * V * V); }
double refGelu(double V) { return 0.5 * V * (1 + std::tanh(refU(V))); }
double refGrad(double V) {
  const double Th = std::tanh(refU(V)), DU = Sqrt2OverPi * (1 + 3 * Cubic * V * V);
  return 0.5 * (1 + Th) + 0.5 * V * (1 - Th * Th) * DU;
}

/// -20 .. 20 in steps of 1/8192 (exact in float).
std::vector<float> grid() {
  std::vector<float> X;
  for (int32_t I = -20 * 8192; I <= 20 * 8192; ++I)
    X.push_back(static_cast<float>(I) / 8192.0f);
  return X;
}

} // namespace

TEST_CASE("fp32 geluTanh is within GeluTanhMaxError of std::tanh") {
  double Max = 0;
  for (float U : grid())
    Max = std::max(Max, std::fabs(double(geluTanh(U)) - std::tanh(double(U))));
  for (float U : {0.0f, -0.0f, 1e-30f, -1e-30f, std::numeric_limits<float>::denorm_min(), 7.9f,
                  7.91f, 1e4f, -1e4f, std::numeric_limits<float>::max(),
                  -std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()})
    Max = std::max(Max, std::fabs(double(geluTanh(U)) - std::tanh(double(U))));
  MESSAGE("max |geluTanh - tanh| = " << Max);
  CHECK(Max < GeluTanhMaxError);
  // Odd, exactly ±1 past the clamp, and tiny arguments keep their size.
  CHECK(geluTanh(-0.3f) == -geluTanh(0.3f));
  CHECK(geluTanh(8.0f) == 1.0f);
  CHECK(geluTanh(-1e30f) == -1.0f);
  CHECK(std::fabs(geluTanh(1e-20f) / 1e-20f - 1) < 1e-6);
}

TEST_CASE("fp32 GELU and its derivative against a std::tanh reference") {
  std::vector<float> X = grid();
  const int64_t N = static_cast<int64_t>(X.size());
  std::vector<float> Y(X.size()), DX(X.size()), Ones(X.size(), 1.0f);
  geluForward(X.data(), Y.data(), N);
  geluBackward(X.data(), Ones.data(), DX.data(), N);
  double MaxY = 0, MaxD = 0;
  for (size_t I = 0; I < X.size(); ++I) {
    const double V = X[I];
    // Forward: ½|x|·GeluTanhMaxError from tanh plus fp32 rounding of y.
    MaxY = std::max(MaxY, std::fabs(Y[I] - refGelu(V)) / (1 + std::fabs(V)));
    // Derivative: worst at the clamp (|x| ≈ 4.84), where 1 − tanh² ≈ 5e-7
    // becomes 0, times ½ x u'(x) ≈ 8.
    MaxD = std::max(MaxD, std::fabs(DX[I] - refGrad(V)));
  }
  MESSAGE("max |gelu - ref| / (1 + |x|) = " << MaxY << ", max |gelu' - ref'| = " << MaxD);
  CHECK(MaxY < 3e-7);
  CHECK(MaxD < 1e-5);
  // The upstream gradient scales dX.
  float DY = 3.0f, G = 0;
  float V = 0.7f;
  geluBackward(&V, &DY, &G, 1);
  CHECK(G == doctest::Approx(3 * refGrad(0.7)).epsilon(1e-6));
}

TEST_CASE("fp64 GELU keeps std::tanh") {
  for (double V : {-30.0, -3.0, -0.5, 0.0, 1e-8, 0.5, 2.0, 30.0}) {
    double Y = 0, D = 0, One = 1;
    geluForward(&V, &Y, 1);
    geluBackward(&V, &One, &D, 1);
    CHECK(Y == doctest::Approx(refGelu(V)).epsilon(1e-15));
    CHECK(D == doctest::Approx(refGrad(V)).epsilon(1e-15));
  }
}
