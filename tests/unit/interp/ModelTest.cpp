//===- ModelTest.cpp - the Transformer model and its stage split -----------===//
#include "FiniteDiff.h"

#include "backends/interp/Model.h"

#include <doctest/doctest.h>

using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

ModelConfig tinyConfig() {
  ModelConfig C;
  C.Layers = 2, C.Hidden = 8, C.Ffn = 12, C.Heads = 2, C.Seq = 4, C.Vocab = 11;
  C.MicroBatch = 2, C.Seed = 7;
  return C;
}

std::vector<Tensor<double>> grads(Model<double> &M) {
  std::vector<Tensor<double>> G;
  for (auto *P : M.params())
    G.push_back(P->Grad);
  return G;
}

double maxRelDiff(const std::vector<Tensor<double>> &A, const std::vector<Tensor<double>> &B) {
  double Diff = 0, Ref = 0;
  for (size_t I = 0; I < A.size(); ++I)
    for (int64_t J = 0; J < A[I].numel(); ++J) {
      Diff = std::max(Diff, std::abs(A[I][J] - B[I][J]));
      Ref = std::max(Ref, std::abs(A[I][J]));
    }
  return Diff / Ref;
}

} // namespace

TEST_CASE("interp: scaledConfig keeps the model's shape and checks it") {
  pfc::proto::Model M;
  M.set_name("gpt");
  M.set_num_layers(24), M.set_hidden_size(1024), M.set_num_heads(16);
  M.set_seq_length(1024), M.set_vocab_size(50257), M.set_micro_batch_size(8);
  ModelScale S;
  S.Hidden = 32, S.Heads = 4, S.Seq = 16, S.Vocab = 64, S.MicroBatch = 2;
  auto C = scaledConfig(M, S, 3);
  REQUIRE(static_cast<bool>(C));
  CHECK(C->Layers == 24);
  CHECK(C->Ffn == 128); // ffn_size 0 means 4h, kept as a ratio
  CHECK(C->Hidden == 32);
  S.Heads = 5;
  auto Bad = scaledConfig(M, S, 3);
  REQUIRE_FALSE(static_cast<bool>(Bad));
  CHECK(llvm::toString(Bad.takeError()).find("5 heads do not divide") != std::string::npos);
}

TEST_CASE("interp: a run too big for the machine is refused, naming what it needs") {
  ModelConfig C;
  C.Layers = 2, C.Hidden = 4, C.Ffn = 8, C.Heads = 2, C.Seq = 3, C.Vocab = 5, C.MicroBatch = 1;
  // Parameters 2 (64 + 64 + 36 + 8) + 40 + 12 = 396; per micro-batch: blocks
  // 2 (3 (48 + 24) + 2 * 2 * 9) = 504, head 30.
  CHECK(runBytes(C, 1, 1, 4) == doctest::Approx(4 * (4 * 396 + 534)));
  CHECK(runBytes(C, 2, 3, 8) == doctest::Approx(8 * (4 * 396 * 2 + 3 * 534)));
  CHECK(!checkRunFits(C, 1, 1, 4, 1e6));
  llvm::Error E = checkRunFits(C, 1, 1, 4, 1024);
  REQUIRE(static_cast<bool>(E));
  const std::string Text = llvm::toString(std::move(E));
  CHECK(Text.find("needs about 0.0 GiB for 1 replica(s) and 1 micro-batches in flight, more "
                  "than this machine's 0.0 GiB") != std::string::npos);
  C.Hidden = 100000; // and against the real machine
  CHECK(static_cast<bool>(llvm::errorToBool(checkRunFits(C, 1, 1, 4))));
  CHECK(physicalMemoryBytes() > 0);
}

TEST_CASE("interp: the whole model's gradient matches finite differences") {
  ModelConfig C = tinyConfig();
  Model<double> M(C);
  Batch B = syntheticBatch(C, 1, 0, 2);
  const double Scale = 1.0 / (2 * C.Seq);
  M.zeroGrad();
  (void)M.forward(0, M.numLayers(), 0, B, {});
  (void)M.backward(0, M.numLayers(), 0, {}, Scale);
  auto Loss = [&] { return M.forward(0, M.numLayers(), 1, B, {})[0]; };
  double Worst = 0;
  for (auto *P : M.params()) {
    double E = gradientError(Loss, P->Value, P->Grad);
    Worst = std::max(Worst, E);
    CHECK_MESSAGE(E < 1e-6, P->Name);
  }
  noteError("Model (all parameters)", Worst);
}

TEST_CASE("interp: stage-split runs and uneven micro-batches give the one-batch gradient") {
  ModelConfig C = tinyConfig();
  std::vector<Batch> Parts{syntheticBatch(C, 1, 0, 1), syntheticBatch(C, 1, 1, 2),
                           syntheticBatch(C, 1, 2, 3)};
  Batch Whole = concatBatches(Parts);
  const double Scale = 1.0 / (6 * C.Seq);

  Model<double> Ref(C);
  Ref.zeroGrad();
  double RefLoss = Ref.forward(0, Ref.numLayers(), 0, Whole, {})[0];
  (void)Ref.backward(0, Ref.numLayers(), 0, {}, Scale);

  // Two stages, [0, 2) and [2, 4), in a 1F1B-like order: F0 F1 B0 F2 B1 B2.
  Model<double> M(C);
  M.zeroGrad();
  const int32_t Cut = 2, End = M.numLayers();
  std::vector<Tensor<double>> Acts(3);
  double Loss = 0;
  auto Fwd = [&](int32_t Mb) {
    Acts[Mb] = M.forward(0, Cut, Mb, Parts[Mb], {});
    Loss += M.forward(Cut, End, Mb, Parts[Mb], Acts[Mb])[0] * Parts[Mb].Sequences * C.Seq *
            Scale;
  };
  auto Bwd = [&](int32_t Mb) {
    Tensor<double> D = M.backward(Cut, End, Mb, {}, Scale);
    CHECK(M.backward(0, Cut, Mb, D, Scale).empty());
  };
  Fwd(0), Fwd(1), Bwd(0), Fwd(2), Bwd(1), Bwd(2);
  CHECK(std::abs(Loss - RefLoss) < 1e-14);
  double E = maxRelDiff(grads(Ref), grads(M));
  noteError("uneven micro-batches vs one batch", E);
  CHECK(E < 1e-12);
}

TEST_CASE("interp: initialisation is seeded and fp32 follows fp64") {
  ModelConfig C = tinyConfig();
  Model<double> A(C), B(C);
  CHECK(A.params()[4]->Value.storage() == B.params()[4]->Value.storage());
  C.Seed = 8;
  Model<double> D(C);
  CHECK(A.params()[4]->Value.storage() != D.params()[4]->Value.storage());
  C.Seed = 7;
  Model<float> F(C);
  Batch Data = syntheticBatch(C, 1, 0, 2);
  double L64 = A.forward(0, A.numLayers(), 0, Data, {})[0];
  double L32 = F.forward(0, F.numLayers(), 0, Data, {})[0];
  CHECK(std::abs(L64 - L32) < 1e-5 * L64);
  CHECK(L64 > 0.5 * std::log(double(C.Vocab)));
}
