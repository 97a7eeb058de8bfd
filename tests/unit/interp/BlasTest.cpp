//===- BlasTest.cpp - the CBLAS/LAPACKE wrappers against plain loops -------===//
#include "FiniteDiff.h"

#include "backends/interp/Blas.h"

#include <doctest/doctest.h>

using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

/// op(A) op(B) by the definition, for reference.
Tensor<double> naiveProduct(const Tensor<double> &A, bool TA, const Tensor<double> &B,
                            bool TB) {
  const int64_t M = TA ? A.cols() : A.rows(), K = TA ? A.rows() : A.cols();
  const int64_t N = TB ? B.rows() : B.cols();
  Tensor<double> C = Tensor<double>::matrix(M, N);
  for (int64_t I = 0; I < M; ++I)
    for (int64_t J = 0; J < N; ++J)
      for (int64_t P = 0; P < K; ++P)
        C.at(I, J) += (TA ? A.at(P, I) : A.at(I, P)) * (TB ? B.at(J, P) : B.at(P, J));
  return C;
}

} // namespace

TEST_CASE("interp: gemm wrapper matches the definition for every transpose") {
  for (bool TA : {false, true})
    for (bool TB : {false, true}) {
      Tensor<double> A = TA ? randomTensor({4, 3}, 1) : randomTensor({3, 4}, 1);
      Tensor<double> B = TB ? randomTensor({5, 4}, 2) : randomTensor({4, 5}, 2);
      Tensor<double> C = matmul(A, TA ? Trans::Yes : Trans::No, B, TB ? Trans::Yes : Trans::No);
      CHECK(maxAbsDiff(C, naiveProduct(A, TA, B, TB)) < 1e-14);
    }
  // float goes through sgemm.
  Tensor<float> Af = castTensor<float>(randomTensor({3, 4}, 3));
  Tensor<float> Bf = castTensor<float>(randomTensor({4, 2}, 4));
  Tensor<double> Cf = castTensor<double>(matmul(Af, Trans::No, Bf, Trans::No));
  Tensor<double> Ref = naiveProduct(castTensor<double>(Af), false, castTensor<double>(Bf), false);
  CHECK(maxAbsDiff(Cf, Ref) < 1e-5);
}

TEST_CASE("interp: gram fills both triangles with AᵀA") {
  Tensor<double> A = randomTensor({6, 3}, 5);
  Tensor<double> C = Tensor<double>::matrix(3, 3, 1.0);
  gram(6, 3, 2.0, A.data(), 3, 1.0, C.data());
  Tensor<double> Ref = naiveProduct(A, true, A, false);
  for (int64_t I = 0; I < 9; ++I)
    CHECK(std::abs(C[I] - (2 * Ref[I] + 1)) < 1e-13);
}

TEST_CASE("interp: Cholesky inverse of an SPD matrix, failure on an indefinite one") {
  Tensor<double> X = randomTensor({8, 5}, 6);
  Tensor<double> M = naiveProduct(X, true, X, false);
  for (int64_t I = 0; I < 5; ++I)
    M.at(I, I) += 0.1;
  Tensor<double> Inv = M;
  REQUIRE(choleskyInverse(Inv.data(), 5));
  Tensor<double> I5 = naiveProduct(M, false, Inv, false);
  for (int64_t I = 0; I < 5; ++I)
    for (int64_t J = 0; J < 5; ++J)
      CHECK(std::abs(I5.at(I, J) - (I == J ? 1.0 : 0.0)) < 1e-11);
  Tensor<float> Bad = Tensor<float>::matrix(2, 2);
  Bad.at(0, 0) = 1, Bad.at(1, 1) = -1;
  CHECK_FALSE(choleskyInverse(Bad.data(), 2));
}
