//===- LrScheduleTest.cpp - learning-rate schedules and the optimizers' rate ===//
//
// LrSchedule::at against its closed forms (warm-up, cosine, linear, the
// minimum ratio), and that a rate set with setLearningRate is the one each
// optimizer's next step uses: SGD without momentum moves by −η g exactly,
// AdamW's first step by −η sign(g), and K-FAC uses the set η in both the
// update and the KL clip (so a clipped step does not depend on η).
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"

#include "backends/interp/KfacOptimizer.h"
#include "backends/interp/LrSchedule.h"

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

using namespace pfc::interp;
using namespace pfc::interp::test;

TEST_CASE("interp: learning-rate schedules follow their closed forms") {
  LrSchedule S;
  S.Base = 0.4, S.Steps = 10;
  for (int64_t T = 1; T <= 10; ++T)
    CHECK(S.at(T) == 0.4); // constant, no warm-up

  S.Warmup = 4; // constant after a warm-up: 0.1, 0.2, 0.3, 0.4, 0.4, ...
  for (int64_t T = 1; T <= 4; ++T)
    CHECK(S.at(T) == doctest::Approx(0.1 * T).epsilon(1e-15));
  CHECK(S.at(5) == 0.4);
  CHECK(S.at(10) == 0.4);

  S.Shape = LrSchedule::Cosine, S.Warmup = 0; // (1 + cos πt/10) / 2
  for (int64_t T = 1; T <= 10; ++T)
    CHECK(S.at(T) ==
          doctest::Approx(0.4 * (1 + std::cos(std::numbers::pi * T / 10)) / 2).epsilon(1e-15));
  CHECK(std::abs(S.at(10)) < 1e-16);

  S.Warmup = 2, S.MinRatio = 0.1; // warm-up 0.2, 0.4; then p = (t − 2) / 8
  CHECK(S.at(1) == doctest::Approx(0.2));
  CHECK(S.at(2) == doctest::Approx(0.4));
  CHECK(S.at(6) == doctest::Approx(0.4 * (0.1 + 0.9 * 0.5)).epsilon(1e-15)); // p = 1/2
  CHECK(S.at(10) == doctest::Approx(0.04).epsilon(1e-15));
  for (int64_t T = 3; T <= 10; ++T)
    CHECK(S.at(T) < S.at(T - 1)); // decays monotonically after the peak

  S.Shape = LrSchedule::Linear, S.MinRatio = 0.25;
  CHECK(S.at(2) == doctest::Approx(0.4));
  CHECK(S.at(4) == doctest::Approx(0.4 * (0.25 + 0.75 * 0.75)).epsilon(1e-15)); // p = 1/4
  CHECK(S.at(10) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(S.at(7) - S.at(8) == doctest::Approx(S.at(8) - S.at(9)).epsilon(1e-12));

  S.Warmup = 10; // all warm-up: the last step reaches the peak, no decay
  CHECK(S.at(10) == 0.4);
  CHECK(S.at(0) == S.at(1)); // clamped to [1, Steps]
  CHECK(S.at(11) == S.at(10));
}

TEST_CASE("interp: SGD and AdamW step with the rate set last") {
  Param<double> P("p", {3});
  P.Value[0] = 1, P.Value[1] = -2, P.Value[2] = 0.5;
  P.Grad[0] = 0.5, P.Grad[1] = -4, P.Grad[2] = 0.25;
  Param<double> Q = P;
  auto Sgd = createSgd<double>({&P}, SgdOptions{0.1, 0, 0}); // no momentum: Δw = −η g
  for (double Lr : {0.25, 0.5, 0.125}) {
    Sgd->setLearningRate(Lr);
    CHECK(Sgd->learningRate() == Lr);
    const Tensor<double> Before = P.Value;
    Sgd->step();
    for (int64_t J = 0; J < 3; ++J)
      CHECK(P.Value[J] == Before[J] - Lr * P.Grad[J]); // exact: powers of two
  }

  // With one gradient repeated m̂ = g and v̂ = g², so every step is
  // −η g / (|g| + ε) (no weight decay).
  auto Adam = createAdamW<double>({&Q}, AdamOptions{0.01, 0.9, 0.999, 1e-8, 0});
  for (double Lr : {0.003, 0.03}) {
    Adam->setLearningRate(Lr);
    const Tensor<double> Before = Q.Value;
    Adam->step();
    for (int64_t J = 0; J < 3; ++J) {
      const double Expected = Before[J] - Lr * Q.Grad[J] / (std::abs(Q.Grad[J]) + 1e-8);
      CHECK(Q.Value[J] == doctest::Approx(Expected).epsilon(1e-12));
    }
  }
}

namespace {

/// One K-FAC step (momentum 0) of a fixed layer and gradient, with the
/// optimizer built at rate \p CtorLr and then set to \p Lr (if positive).
/// Returns the change of [W | b] and sets \p Nu to the step's clip factor.
Tensor<double> kfacStep(double CtorLr, double Lr, double Kappa, double &Nu) {
  Linear<double> L("lin", 3, 2);
  Rng R(9);
  L.init(R, 1.0);
  KfacOptions O;
  O.Sgd = SgdOptions{CtorLr, 0, 0};
  O.Damping = 0.02, O.KlClip = Kappa;
  KfacOptimizer<double> Opt(L.params(), {&L}, O);
  if (Lr > 0)
    Opt.setLearningRate(Lr);
  (void)L.forward(0, randomTensor({6, 3}, 10));
  (void)L.backward(0, randomTensor({6, 2}, 11, 1.0 / 6));
  Opt.curvatureAll(1.0 / 6);
  const Tensor<double> Before = joinWeightBias(L.Weight.Value, &L.Bias.Value);
  Opt.step();
  Nu = Opt.lastClip();
  Tensor<double> D = joinWeightBias(L.Weight.Value, &L.Bias.Value);
  for (int64_t I = 0; I < D.numel(); ++I)
    D[I] -= Before[I];
  return D;
}

} // namespace

TEST_CASE("interp: K-FAC uses the rate set last in its update and its KL clip") {
  double NuSet = 0, NuBuilt = 0, NuHalf = 0;
  // Built at η 1 and set to 0.05: the same step as built at 0.05.
  const Tensor<double> Set = kfacStep(1.0, 0.05, 1e-4, NuSet);
  const Tensor<double> Built = kfacStep(0.05, 0, 1e-4, NuBuilt);
  CHECK(NuSet == NuBuilt);
  for (int64_t I = 0; I < Set.numel(); ++I)
    CHECK(Set[I] == Built[I]);
  // The clip is active: η ν is sqrt(κ / ⟨Δ, V⟩) whatever η, so halving η
  // doubles ν and leaves the step as it was.
  CHECK(NuSet < 0.5);
  const Tensor<double> Half = kfacStep(1.0, 0.025, 1e-4, NuHalf);
  CHECK(NuHalf == doctest::Approx(2 * NuSet).epsilon(1e-12));
  for (int64_t I = 0; I < Set.numel(); ++I)
    CHECK(Half[I] == doctest::Approx(Set[I]).epsilon(1e-12));
  // Without the clip (ν = 1) the step scales with η.
  double NuA = 0, NuB = 0;
  const Tensor<double> A = kfacStep(1.0, 0.05, 1e300, NuA), B = kfacStep(1.0, 0.2, 1e300, NuB);
  CHECK(NuA == 1.0);
  CHECK(NuB == 1.0);
  for (int64_t I = 0; I < A.numel(); ++I)
    CHECK(B[I] == doctest::Approx(4 * A[I]).epsilon(1e-12));
}
