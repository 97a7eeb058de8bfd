//===- KfacTest.cpp - K-FAC factors, damping, inversion and preconditioning -===//
//
// Brute force and closed forms for the conventions written down in Kfac.h.
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"

#include "backends/interp/Blas.h"
#include "backends/interp/Kfac.h"
#include "backends/interp/Linear.h"
#include "backends/interp/Model.h"

#include <doctest/doctest.h>

using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

/// S Sᵀ / n + Shift·I: a symmetric positive definite n x n matrix.
Tensor<double> randomSpd(int64_t N, uint64_t Seed, double Shift = 0.1) {
  Tensor<double> S = randomTensor({N, N + 2}, Seed);
  Tensor<double> M = matmul(S, Trans::No, S, Trans::Yes);
  for (int64_t I = 0; I < N; ++I)
    M.at(I, I) += Shift;
  return M;
}

/// Kronecker product A ⊗ B.
Tensor<double> kron(const Tensor<double> &A, const Tensor<double> &B) {
  const int64_t Ra = A.rows(), Ca = A.cols(), Rb = B.rows(), Cb = B.cols();
  Tensor<double> K = Tensor<double>::matrix(Ra * Rb, Ca * Cb);
  for (int64_t I = 0; I < Ra; ++I)
    for (int64_t J = 0; J < Ca; ++J)
      for (int64_t P = 0; P < Rb; ++P)
        for (int64_t Q = 0; Q < Cb; ++Q)
          K.at(I * Rb + P, J * Cb + Q) = A.at(I, J) * B.at(P, Q);
  return K;
}

/// Column-major vec of an [r, c] matrix: vec(V)[j·r + i] = V(i, j).
Tensor<double> vec(const Tensor<double> &V) {
  Tensor<double> Out = Tensor<double>::vector(V.numel());
  for (int64_t I = 0; I < V.rows(); ++I)
    for (int64_t J = 0; J < V.cols(); ++J)
      Out[J * V.rows() + I] = V.at(I, J);
  return Out;
}

} // namespace

TEST_CASE("interp: K-FAC factors of a Linear layer equal the brute-force sums") {
  const int64_t In = 3, Out = 2, Rows = 5;
  Linear<double> L("lin", In, Out);
  Rng R(1);
  fillNormal(L.Weight.Value, R, 1.0);
  fillNormal(L.Bias.Value, R, 1.0);
  L.SaveForCurvature = true;
  Tensor<double> X = randomTensor({Rows, In}, 2);
  const double Scale = 1.0 / Rows; // mean loss over the rows
  Tensor<double> DY = randomTensor({Rows, Out}, 3, Scale);
  (void)L.forward(0, X);
  (void)L.backward(0, DY);

  KfacFactors<double> F(In, Out, true);
  accumulateA(F, L.CurvatureInputs.take(0));
  accumulateG(F, L.CurvatureGrads.take(0), Scale);
  updateAverages(F, 0.95); // the first step takes the step's factors as they are

  Tensor<double> A = Tensor<double>::matrix(In + 1, In + 1), G = Tensor<double>::matrix(Out, Out);
  Tensor<double> V = Tensor<double>::matrix(Out, In + 1);
  for (int64_t N = 0; N < Rows; ++N) {
    std::vector<double> Bar{X.at(N, 0), X.at(N, 1), X.at(N, 2), 1.0};
    for (int64_t I = 0; I <= In; ++I)
      for (int64_t J = 0; J <= In; ++J)
        A.at(I, J) += Bar[I] * Bar[J] / Rows;
    for (int64_t I = 0; I < Out; ++I) {
      for (int64_t J = 0; J < Out; ++J)
        G.at(I, J) += (DY.at(N, I) / Scale) * (DY.at(N, J) / Scale) / Rows;
      for (int64_t J = 0; J <= In; ++J)
        V.at(I, J) += DY.at(N, I) * Bar[J];
    }
  }
  CHECK(F.HasAverage);
  CHECK(maxAbsDiff(F.A, A) < 1e-14);
  CHECK(maxAbsDiff(F.G, G) < 1e-13);
  // The layer's own gradient is Σ g āᵀ in the [W | b] layout K-FAC uses.
  CHECK(maxAbsDiff(joinWeightBias(L.Weight.Grad, &L.Bias.Grad), V) < 1e-14);

  // For one row, āāᵀ ⊗ ĝĝᵀ is the outer product of that row's per-example
  // gradient vec(ĝ āᵀ): the Fisher block K-FAC approximates.
  KfacFactors<double> One(In, Out, true);
  Tensor<double> X0 = Tensor<double>::matrix(1, In), D0 = Tensor<double>::matrix(1, Out);
  for (int64_t J = 0; J < In; ++J)
    X0[J] = X.at(0, J);
  for (int64_t J = 0; J < Out; ++J)
    D0[J] = DY.at(0, J);
  accumulateA(One, X0);
  accumulateG(One, D0, 1.0);
  updateAverages(One, 0.0);
  Tensor<double> PerExample = vec(joinWeightBias(matmul(D0, Trans::Yes, X0, Trans::No),
                                                 &D0)); // ĝ āᵀ with ā = [x; 1]
  Tensor<double> Col = PerExample;
  Col.reshape({PerExample.numel(), 1});
  CHECK(maxAbsDiff(kron(One.A, One.G), matmul(Col, Trans::No, Col, Trans::Yes)) < 1e-13);
}

TEST_CASE("interp: factors over uneven micro-batches equal the one-batch factors") {
  ModelConfig C;
  C.Layers = 2, C.Hidden = 8, C.Ffn = 12, C.Heads = 2, C.Seq = 4, C.Vocab = 11, C.Seed = 5;
  std::vector<Batch> Parts{syntheticBatch(C, 3, 0, 3), syntheticBatch(C, 3, 1, 1),
                           syntheticBatch(C, 3, 2, 2)};
  Batch Whole = concatBatches(Parts);
  const double Scale = 1.0 / (6 * C.Seq);
  auto Factors = [&](std::span<const Batch> Batches) {
    Model<double> M(C);
    std::vector<KfacFactors<double>> Fs;
    for (Linear<double> *L : M.linears()) {
      L->SaveForCurvature = true;
      Fs.emplace_back(L->inFeatures(), L->outFeatures(), L->hasBias());
    }
    for (int32_t Mb = 0; Mb < static_cast<int32_t>(Batches.size()); ++Mb)
      (void)M.forward(0, M.numLayers(), Mb, Batches[Mb], {});
    for (int32_t Mb = static_cast<int32_t>(Batches.size()) - 1; Mb >= 0; --Mb) {
      (void)M.backward(0, M.numLayers(), Mb, {}, Scale);
      for (size_t I = 0; I < Fs.size(); ++I) {
        accumulateA(Fs[I], M.linears()[I]->CurvatureInputs.take(Mb));
        accumulateG(Fs[I], M.linears()[I]->CurvatureGrads.take(Mb), Scale);
      }
    }
    for (auto &F : Fs)
      updateAverages(F, 0.9);
    return Fs;
  };
  auto Split = Factors(Parts);
  auto One = Factors(std::span<const Batch>(&Whole, 1));
  REQUIRE(Split.size() == 13); // 6 per block and the head
  double Worst = 0;
  for (size_t I = 0; I < Split.size(); ++I) {
    for (auto [S, O] : {std::pair{&Split[I].A, &One[I].A}, {&Split[I].G, &One[I].G}}) {
      double Ref = 0;
      for (int64_t J = 0; J < O->numel(); ++J)
        Ref = std::max(Ref, std::abs((*O)[J]));
      Worst = std::max(Worst, maxAbsDiff(*S, *O) / Ref);
    }
  }
  noteError("factors, uneven micro-batches vs one", Worst);
  CHECK(Worst < 1e-13);
}

TEST_CASE("interp: preconditioning is the Kronecker inverse: (A⊗G)⁻¹vec(V) = vec(G⁻¹VA⁻¹)") {
  Tensor<double> A = randomSpd(4, 11), G = randomSpd(3, 12);
  Tensor<double> V = randomTensor({3, 4}, 13);
  Tensor<double> AInv, GInv;
  REQUIRE(dampedInverse(A, 0.0, AInv));
  REQUIRE(dampedInverse(G, 0.0, GInv));
  Tensor<double> Delta = precondition(GInv, V, AInv);
  Tensor<double> K = kron(A, G);
  Tensor<double> KInv = K;
  REQUIRE(choleskyInverse(KInv.data(), KInv.rows()));
  Tensor<double> Rhs = vec(V);
  Rhs.reshape({Rhs.numel(), 1});
  Tensor<double> Ref = matmul(KInv, Trans::No, Rhs, Trans::No);
  double E = maxAbsDiff(vec(Delta), Ref);
  noteError("(A⊗G)⁻¹vec(V) vs vec(G⁻¹VA⁻¹) (abs)", E);
  CHECK(E < 1e-11);
  // Applying A ⊗ G to the result gives V back.
  CHECK(maxAbsDiff(matmul(matmul(G, Trans::No, Delta, Trans::No), Trans::No, A, Trans::No), V) <
        1e-12);
}

TEST_CASE("interp: π-damping closed form and invariance to rescaling the factors") {
  KfacFactors<double> F(2, 2, true); // A is 3 x 3, G is 2 x 2
  F.A = Tensor<double>::matrix(3, 3), F.G = Tensor<double>::matrix(2, 2);
  for (int64_t I = 0; I < 3; ++I)
    F.A.at(I, I) = 4;
  F.G.at(0, 0) = 0.5, F.G.at(1, 1) = 1.5; // tr G / 2 = 1
  F.HasAverage = true;
  CHECK(std::abs(piDamping(F.A, F.G) - 2.0) < 1e-15);
  REQUIRE(invertFactors(F, 0.01)); // A + 2·0.1 I, G + (0.1/2) I
  CHECK(std::abs(F.AInv.at(1, 1) - 1 / 4.2) < 1e-15);
  CHECK(std::abs(F.GInv.at(0, 0) - 1 / 0.55) < 1e-14);
  CHECK(std::abs(F.GInv.at(1, 1) - 1 / 1.55) < 1e-14);
  CHECK(F.AInv.at(0, 1) == 0.0);

  // (A + π√λ I) ⊗ (G + √λ/π I) does not change when A → cA, G → G/c, so
  // neither does the preconditioned gradient.
  KfacFactors<double> P(3, 2, true), Q(3, 2, true);
  P.A = randomSpd(4, 21, 0), P.G = randomSpd(2, 22, 0), P.HasAverage = true;
  Q.A = P.A, Q.G = P.G, Q.HasAverage = true;
  for (int64_t I = 0; I < Q.A.numel(); ++I)
    Q.A[I] *= 50;
  for (int64_t I = 0; I < Q.G.numel(); ++I)
    Q.G[I] /= 50;
  REQUIRE(invertFactors(P, 0.05));
  REQUIRE(invertFactors(Q, 0.05));
  Tensor<double> V = randomTensor({2, 4}, 23);
  Tensor<double> DP = precondition(P.GInv, V, P.AInv), DQ = precondition(Q.GInv, V, Q.AInv);
  CHECK(maxAbsDiff(DP, DQ) < 1e-11);
}

TEST_CASE("interp: running average, KL clip and the fp64 Cholesky retry") {
  KfacFactors<double> F(1, 1, false);
  for (double Value : {2.0, 4.0}) {
    Tensor<double> X = Tensor<double>::matrix(2, 1, std::sqrt(Value)); // Σx² / rows = Value
    accumulateA(F, X);
    accumulateG(F, X, 1.0);
    updateAverages(F, 0.75);
  }
  CHECK(std::abs(F.A[0] - (0.75 * 2 + 0.25 * 4)) < 1e-15);
  CHECK(F.RowsA == 0);
  CHECK(F.SumA[0] == 0.0);

  CHECK(std::abs(klClipFactor(4.0, 0.1, 0.001) - std::sqrt(0.025)) < 1e-15);
  CHECK(klClipFactor(1e-6, 0.1, 0.001) == 1.0);
  CHECK(klClipFactor(0.0, 0.1, 0.001) == 1.0);
  CHECK(klClipFactor(4.0, 0.1, 0.0) == 1.0); // κ = 0: no clip (pfc-run --kfac-kl-clip 0)

  // 1 + 1e-9 rounds to 1 in float: singular there, positive definite in double.
  Tensor<float> M = Tensor<float>::matrix(2, 2, 1.0f);
  Tensor<float> Inv;
  bool Retried = false;
  REQUIRE(dampedInverse(M, 1e-9, Inv, &Retried));
  CHECK(Retried);
  const double D = 1 + 1e-9;
  CHECK(std::abs(Inv.at(0, 0) / (D / (D * D - 1)) - 1) < 1e-5); // [[D,1],[1,D]]⁻¹
}
