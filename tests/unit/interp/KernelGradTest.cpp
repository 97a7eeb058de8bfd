//===- KernelGradTest.cpp - every layer's backward vs finite differences ---===//
//
// Each kernel runs forward on micro-batch 0 and backward with a random
// upstream gradient R, then f(x, θ) = Σ R ⊙ forward(x) is differentiated
// numerically (on micro-batch 1, whose saved state is simply overwritten) in
// every input entry and every parameter entry. fp64 throughout.
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"

#include "backends/interp/Block.h"
#include "backends/interp/Embedding.h"
#include "backends/interp/LmHead.h"
#include "backends/interp/Loss.h"

#include <doctest/doctest.h>

using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

constexpr double Tolerance = 1e-6;

/// Checks dX and every parameter of a kernel with forward(Mb, X) / backward(Mb, dY).
template <typename Layer>
void checkKernel(const char *Name, Layer &L, pfc::interp::ParamList<double> Params,
                 Tensor<double> X, uint64_t Seed) {
  for (auto *P : Params)
    P->zeroGrad();
  Tensor<double> Y = L.forward(0, X);
  Tensor<double> R = randomTensor(Y.shape(), Seed);
  Tensor<double> DX = L.backward(0, R);
  auto F = [&] { return dot(L.forward(1, X), R); };
  double Err = gradientError(F, X, DX);
  noteError((std::string(Name) + " dX").c_str(), Err);
  CHECK(Err < Tolerance);
  for (auto *P : Params) {
    double E = gradientError(F, P->Value, P->Grad);
    noteError((std::string(Name) + " " + P->Name).c_str(), E);
    CHECK(E < Tolerance);
  }
}

template <typename Layer> void randomizeParams(Layer &L, uint64_t Seed) {
  Rng R(Seed);
  for (auto *P : L.params())
    fillNormal(P->Value, R, 0.5, 0.0);
}

} // namespace

TEST_CASE("interp: Linear backward matches finite differences") {
  Linear<double> L("lin", 5, 3);
  randomizeParams(L, 11);
  checkKernel("Linear", L, L.params(), randomTensor({2, 4, 5}, 12), 13);
  Linear<double> NoBias("nobias", 4, 6, /*HasBias=*/false);
  randomizeParams(NoBias, 14);
  checkKernel("Linear (no bias)", NoBias, NoBias.params(), randomTensor({3, 4}, 15), 16);
}

TEST_CASE("interp: LayerNorm backward matches finite differences") {
  LayerNorm<double> N("ln", 6);
  randomizeParams(N, 21);
  checkKernel("LayerNorm", N, N.params(), randomTensor({5, 6}, 22, 2.0), 23);
}

TEST_CASE("interp: GELU (tanh) forward values and backward") {
  Gelu<double> G;
  // Closed form at a few points: gelu(0) = 0, gelu(x) − gelu(−x) = x.
  Tensor<double> P = Tensor<double>::vector(3);
  P[0] = 0, P[1] = 1.5, P[2] = -1.5;
  Tensor<double> V = G.forward(0, P);
  CHECK(V[0] == 0.0);
  CHECK(std::abs(V[1] - V[2] - 1.5) < 1e-15);
  CHECK(std::abs(V[1] - 1.3995715770) < 1e-9); // tanh approximation at 1.5
  (void)G.backward(0, V);
  checkKernel("GELU", G, {}, randomTensor({4, 7}, 31, 2.0), 32);
}

TEST_CASE("interp: causal attention backward matches finite differences") {
  Attention<double> A("attn", 8, 2, 4);
  randomizeParams(A, 41);
  checkKernel("Attention", A, A.params(), randomTensor({2 * 4, 8}, 42), 43);
}

TEST_CASE("interp: attention is causal") {
  Attention<double> A("attn", 4, 2, 3);
  randomizeParams(A, 51);
  Tensor<double> X = randomTensor({3, 4}, 52);
  Tensor<double> Y = A.forward(0, X);
  X.at(2, 1) += 1.0; // a change to the last token must not reach earlier tokens
  Tensor<double> Z = A.forward(1, X);
  for (int64_t J = 0; J < 4; ++J) {
    CHECK(Y.at(0, J) == Z.at(0, J));
    CHECK(Y.at(1, J) == Z.at(1, J));
  }
  CHECK(Y.at(2, 0) != Z.at(2, 0));
}

TEST_CASE("interp: Transformer block backward matches finite differences") {
  Block<double> B("blk", 8, 12, 2, 3);
  randomizeParams(B, 61);
  checkKernel("Block", B, B.params(), randomTensor({2 * 3, 8}, 62), 63);
}

TEST_CASE("interp: cross-entropy gradient and value") {
  Tensor<double> Logits = randomTensor({4, 5}, 71);
  std::vector<int32_t> Targets{0, 3, 4, 1};
  // Closed form for uniform logits: log(V).
  Tensor<double> Zero = Tensor<double>::matrix(4, 5);
  CHECK(std::abs(crossEntropy<double>(Zero, Targets, 0.0, nullptr) - std::log(5.0)) < 1e-15);
  Tensor<double> D;
  crossEntropy<double>(Logits, Targets, 0.25, &D);
  double Err = gradientError(
      [&] { return crossEntropy<double>(Logits, Targets, 0.0, nullptr); }, Logits, D);
  noteError("cross-entropy dLogits", Err);
  CHECK(Err < Tolerance);
}

TEST_CASE("interp: embedding and LM head backward match finite differences") {
  Embedding<double> E("emb", 7, 4, 3);
  Rng R(81);
  E.init(R, 1.0);
  std::vector<int32_t> Tokens{1, 6, 1, 0, 3, 3}; // repeated ids accumulate
  Tensor<double> Y = E.forward(0, Tokens);
  Tensor<double> Up = randomTensor(Y.shape(), 82);
  for (auto *P : E.params())
    P->zeroGrad();
  E.backward(0, Up);
  for (auto *P : E.params()) {
    double Err = gradientError([&] { return dot(E.forward(1, Tokens), Up); }, P->Value, P->Grad);
    noteError(("Embedding " + P->Name).c_str(), Err);
    CHECK(Err < Tolerance);
  }

  LmHead<double> H("head", 4, 7);
  randomizeParams(H, 83);
  Tensor<double> X = randomTensor({6, 4}, 84);
  for (auto *P : H.params())
    P->zeroGrad();
  (void)H.forward(0, X, Tokens);
  Tensor<double> DX = H.backward(0, 1.0 / 6); // gradient of the mean loss
  auto F = [&] { return H.forward(1, X, Tokens); };
  double Err = gradientError(F, X, DX);
  noteError("LmHead dX", Err);
  CHECK(Err < Tolerance);
  for (auto *P : H.params()) {
    double PE = gradientError(F, P->Value, P->Grad);
    noteError(("LmHead " + P->Name).c_str(), PE);
    CHECK(PE < Tolerance);
  }
}
