//===- KfacEmbeddingTest.cpp - K-FAC on the embedding tables ---------------===//
//
// An embedding lookup is a Linear layer with one-hot inputs: its factors and
// its preconditioned gradient (EmbeddingFactors, Kfac.h) must be those of
// that Linear layer, computed densely by the Linear code; and
// KfacOptimizer::setEmbedding must update the tables with them.
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"

#include "backends/interp/Blas.h"
#include "backends/interp/Kfac.h"
#include "backends/interp/KfacOptimizer.h"
#include "backends/interp/Model.h"

#include <doctest/doctest.h>

using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

Tensor<double> transpose(const Tensor<double> &M) {
  Tensor<double> T = Tensor<double>::matrix(M.cols(), M.rows());
  for (int64_t I = 0; I < M.rows(); ++I)
    for (int64_t J = 0; J < M.cols(); ++J)
      T.at(J, I) = M.at(I, J);
  return T;
}

} // namespace

TEST_CASE("interp: embedding K-FAC is K-FAC of the one-hot Linear layer") {
  const int64_t Vocab = 6, Hidden = 4, Rows = 15;
  const double Scale = 1.0 / 40, Lambda = 0.05;
  std::vector<int32_t> Ids;
  for (int64_t R = 0; R < Rows; ++R)
    Ids.push_back(static_cast<int32_t>((R * R + 3) % 5)); // entries 2, 3, 4
  Tensor<double> DY = randomTensor({Rows, Hidden}, 11);
  for (double &V : DY.storage())
    V *= Scale;

  EmbeddingFactors<double> E(Vocab, Hidden);
  accumulateEmbeddingA(E, Ids);
  accumulateEmbeddingG(E, DY, Scale);
  updateEmbeddingAverages(E, 0.9);

  // The same rows through a bias-free Linear layer's factors.
  Tensor<double> OneHot = Tensor<double>::matrix(Rows, Vocab);
  for (int64_t R = 0; R < Rows; ++R)
    OneHot.at(R, Ids[static_cast<size_t>(R)]) = 1;
  KfacFactors<double> L(Vocab, Hidden, false);
  accumulateA(L, OneHot);
  accumulateG(L, DY, Scale);
  updateAverages(L, 0.9);
  for (int64_t V = 0; V < Vocab; ++V) {
    CHECK(E.A[V] == doctest::Approx(L.A.at(V, V)).epsilon(1e-15));
    for (int64_t W = 0; W < Vocab; ++W)
      if (W != V)
        CHECK(L.A.at(V, W) == 0);
  }
  CHECK(E.A[0] == 0);
  CHECK(E.A[5] == 0);
  CHECK(E.A[3] == doctest::Approx(3.0 / Rows)); // R = 0, 5, 10
  CHECK(maxAbsDiff(E.G, L.G) < 1e-14);

  // Damped inverses and the preconditioned gradient: Δ_table = Δ_Linearᵀ.
  REQUIRE(invertEmbeddingFactors(E, Lambda));
  REQUIRE(invertFactors(L, Lambda));
  for (int64_t V = 0; V < Vocab; ++V)
    CHECK(E.AInv[V] == doctest::Approx(L.AInv.at(V, V)).epsilon(1e-12));
  CHECK(maxAbsDiff(E.GInv, L.GInv) < 1e-12);
  Tensor<double> Grad = matmul(OneHot, Trans::Yes, DY, Trans::No); // [vocab, hidden]
  Tensor<double> Dense = transpose(precondition(L.GInv, transpose(Grad), L.AInv));
  CHECK(maxAbsDiff(preconditionEmbedding(E, Grad), Dense) < 1e-12);

  // A second step folds with the decay, like a Linear layer's factors.
  accumulateEmbeddingA(E, {0, 0, 1});
  accumulateEmbeddingG(E, Tensor<double>::matrix(3, Hidden, Scale), Scale);
  updateEmbeddingAverages(E, 0.9);
  CHECK(E.A[0] == doctest::Approx(0.9 * L.A.at(0, 0) + 0.1 * 2.0 / 3));
  CHECK(E.G.at(1, 2) == doctest::Approx(0.9 * L.G.at(1, 2) + 0.1));
}

TEST_CASE("interp: KfacOptimizer::setEmbedding steps the tables along their K-FAC direction") {
  ModelConfig C;
  C.Layers = 1, C.Hidden = 8, C.Ffn = 16, C.Heads = 2, C.Seq = 4, C.Vocab = 7, C.MicroBatch = 3;
  Model<double> M(C);
  KfacOptions O;
  O.Sgd.Lr = 0.5, O.Damping = 0.02, O.KlClip = 1e300; // no clip: Δ as computed
  KfacOptimizer<double> K(M.params(), M.linears(), O);
  K.setEmbedding(&M.Embed);
  // Two micro-batches of one step; the loss scale is 1 / (rows of the step).
  std::vector<Batch> Parts{syntheticBatch(C, 5, 0, 2), syntheticBatch(C, 5, 1, 1)};
  const double Scale = 1.0 / (3 * C.Seq);
  M.zeroGrad();
  for (int32_t Mb = 0; Mb < 2; ++Mb) {
    M.forward(0, M.numLayers(), Mb, Parts[static_cast<size_t>(Mb)], {});
    M.backward(0, M.numLayers(), Mb, {}, Scale);
  }
  // The expected directions, from the saved ids and output gradients.
  EmbeddingFactors<double> Tok(C.Vocab, C.Hidden), Pos(C.Seq, C.Hidden);
  for (int32_t Mb = 0; Mb < 2; ++Mb) {
    const auto &Ids = M.Embed.CurvatureIds.get(Mb);
    std::vector<int32_t> Positions;
    for (size_t R = 0; R < Ids.size(); ++R)
      Positions.push_back(static_cast<int32_t>(R % C.Seq));
    accumulateEmbeddingA(Tok, Ids), accumulateEmbeddingA(Pos, Positions);
    accumulateEmbeddingG(Tok, M.Embed.CurvatureGrads.get(Mb), Scale);
    accumulateEmbeddingG(Pos, M.Embed.CurvatureGrads.get(Mb), Scale);
  }
  CHECK(Tok.RowsA == 3 * C.Seq);
  for (EmbeddingFactors<double> *F : {&Tok, &Pos})
    updateEmbeddingAverages(*F, O.Decay), invertEmbeddingFactors(*F, O.Damping);
  const Tensor<double> TokBefore = M.Embed.Token.Value, PosBefore = M.Embed.Position.Value;
  const Tensor<double> DTok = preconditionEmbedding(Tok, M.Embed.Token.Grad);
  const Tensor<double> DPos = preconditionEmbedding(Pos, M.Embed.Position.Grad);
  K.curvatureAll(Scale);
  K.step();
  // First step: momentum buffer = direction, update = −lr · direction.
  Tensor<double> TokStep = M.Embed.Token.Value, PosStep = M.Embed.Position.Value;
  addScaled(TokStep, TokBefore, -1.0), addScaled(PosStep, PosBefore, -1.0);
  addScaled(TokStep, DTok, O.Sgd.Lr), addScaled(PosStep, DPos, O.Sgd.Lr);
  CHECK(maxAbsDiff(TokStep, Tensor<double>(TokStep.shape())) < 1e-12);
  CHECK(maxAbsDiff(PosStep, Tensor<double>(PosStep.shape())) < 1e-12);
  // The direction is not the plain gradient (the test can tell them apart).
  CHECK(maxAbsDiff(DTok, M.Embed.Token.Grad) > 1e-3);
  // The saved state was consumed.
  CHECK(M.Embed.CurvatureGrads.keys().empty());
  REQUIRE(K.embeddingFactors() != nullptr);
  CHECK(K.embeddingFactors()->HasInverse);
}
