//===- CudaKernelTest.cpp - each CUDA layer equals its CPU layer -----------===//
//
// Every GPU layer is built from a CPU layer (same weights), both run the
// same forward and backward on the same inputs — two micro-batches, so
// the gradients' accumulation is checked too — and outputs, input
// gradients and parameter gradients must agree in fp64 to 1e-10. Sizes
// cross the kernels' 256-thread row blocks (rows wider than a block).
//
//===----------------------------------------------------------------------===//
#include "CudaTestUtil.h"

#include "backends/interp/cuda/CudaBlas.h"
#include "backends/interp/cuda/CudaLayers.h"
#include "backends/interp/cuda/CudaOptimizer.h"

using namespace pfc;
using namespace pfc::interp;
using namespace pfc::interp::test;
namespace cu = pfc::interp::cuda;

namespace {

template <typename P> void randomize(P &Param, uint64_t Seed, double Std = 0.5) {
  Param.Value = randomTensor(Param.Value.shape(), Seed, Std);
}

} // namespace

TEST_CASE("cuda: GEMM (all transposes, strided-batched) equals the CPU's") {
  auto L = testLane();
  const int64_t M = 5, N = 3, K = 7;
  for (Trans TA : {Trans::No, Trans::Yes})
    for (Trans TB : {Trans::No, Trans::Yes}) {
      Tensor<double> A = randomTensor(TA == Trans::No ? std::vector<int64_t>{M, K}
                                                      : std::vector<int64_t>{K, M}, 1);
      Tensor<double> B = randomTensor(TB == Trans::No ? std::vector<int64_t>{K, N}
                                                      : std::vector<int64_t>{N, K}, 2);
      Tensor<double> C = randomTensor({M, N}, 3);
      cu::DeviceTensor<double> DA = up(A, *L), DB = up(B, *L), DC = up(C, *L);
      matmul(A, TA, B, TB, C, 0.5, 2.0);
      cu::matmul(*L, DA, TA, DB, TB, DC, 0.5, 2.0);
      expectClose("gemm", down(DC, *L), C, 1e-13);
    }
  // Three 4x3 = (4x6)(6x3) products on strided blocks with leading dimensions.
  Tensor<double> A = randomTensor({4, 20}, 4), B = randomTensor({6, 11}, 5);
  Tensor<double> C({3, 4, 3});
  cu::DeviceTensor<double> DA = up(A, *L), DB = up(B, *L), DC(C.shape());
  for (int64_t I = 0; I < 3; ++I)
    gemm(Trans::No, Trans::No, 4, 3, 6, 1.0, A.data() + 6 * I, 20, B.data() + 2 * I, 11, 0.0,
         C.data() + 12 * I, 3);
  cu::gemmStridedBatched(*L, Trans::No, Trans::No, 4, 3, 6, 1.0, DA.data(), 20, 6, DB.data(), 11,
                         2, 0.0, DC.data(), 3, 12, 3);
  expectClose("gemm strided-batched", down(DC, *L), C, 1e-13);
}

TEST_CASE("cuda: Linear forward and backward equal the CPU's") {
  auto L = testLane();
  interp::Linear<double> Cpu("fc", 6, 4);
  randomize(Cpu.Weight, 1), randomize(Cpu.Bias, 2);
  cu::Linear<double> Gpu(Cpu, *L);
  for (int32_t Mb : {0, 1}) {
    Tensor<double> X = randomTensor({2, 3, 6}, 10 + Mb), DY = randomTensor({2, 3, 4}, 20 + Mb);
    Tensor<double> Y = Cpu.forward(Mb, X);
    expectClose("linear Y", down(Gpu.forward(*L, Mb, up(X, *L)), *L), Y);
    Tensor<double> DX = Cpu.backward(Mb, DY);
    expectClose("linear dX", down(Gpu.backward(*L, Mb, up(DY, *L)), *L), DX);
  }
  expectClose("linear dW (two micro-batches)", down(Gpu.Weight.Grad, *L), Cpu.Weight.Grad);
  expectClose("linear db (two micro-batches)", down(Gpu.Bias.Grad, *L), Cpu.Bias.Grad);
}

TEST_CASE("cuda: LayerNorm and GELU equal the CPU's") {
  auto L = testLane();
  const int64_t H = 300; // wider than one 256-thread row block
  interp::LayerNorm<double> Cpu("ln", H);
  randomize(Cpu.Gamma, 3), randomize(Cpu.Beta, 4);
  cu::LayerNorm<double> Gpu(Cpu, *L);
  interp::Gelu<double> CpuAct;
  cu::Gelu<double> GpuAct;
  for (int32_t Mb : {0, 1}) {
    Tensor<double> X = randomTensor({5, H}, 30 + Mb, 2.0), DY = randomTensor({5, H}, 40 + Mb);
    expectClose("layernorm Y", down(Gpu.forward(*L, Mb, up(X, *L)), *L), Cpu.forward(Mb, X));
    expectClose("layernorm dX", down(Gpu.backward(*L, Mb, up(DY, *L)), *L),
                Cpu.backward(Mb, DY));
    expectClose("gelu Y", down(GpuAct.forward(*L, Mb, up(X, *L)), *L), CpuAct.forward(Mb, X));
    expectClose("gelu dX", down(GpuAct.backward(*L, Mb, up(DY, *L)), *L),
                CpuAct.backward(Mb, DY));
  }
  expectClose("layernorm dgamma", down(Gpu.Gamma.Grad, *L), Cpu.Gamma.Grad);
  expectClose("layernorm dbeta", down(Gpu.Beta.Grad, *L), Cpu.Beta.Grad);
}

TEST_CASE("cuda: causal attention equals the CPU's") {
  auto L = testLane();
  // {hidden, heads, seq, sequences}: a small case and rows wider than a block.
  for (auto [Hidden, Heads, Seq, B] :
       {std::array<int64_t, 4>{8, 2, 5, 3}, std::array<int64_t, 4>{4, 2, 300, 1}}) {
    interp::Attention<double> Cpu("attn", Hidden, Heads, Seq);
    Rng R(5);
    Cpu.init(R, 0.7, 0.5);
    uint64_t Seed = 6;
    for (interp::Linear<double> *Lin : Cpu.linears())
      randomize(Lin->Bias, Seed++, 0.1);
    cu::Attention<double> Gpu(Cpu, *L, Heads, Seq);
    for (int32_t Mb : {0, 1}) {
      Tensor<double> X = randomTensor({B * Seq, Hidden}, 50 + Mb);
      Tensor<double> DY = randomTensor({B * Seq, Hidden}, 60 + Mb);
      expectClose("attention Y", down(Gpu.forward(*L, Mb, up(X, *L)), *L), Cpu.forward(Mb, X));
      expectClose("attention dX", down(Gpu.backward(*L, Mb, up(DY, *L)), *L),
                  Cpu.backward(Mb, DY));
    }
    ParamList<double> Pc = Cpu.params();
    cu::DeviceParamList<double> Pg = Gpu.params();
    for (size_t I = 0; I < Pc.size(); ++I)
      expectClose(("attention grad " + Pc[I]->Name).c_str(), down(Pg[I]->Grad, *L), Pc[I]->Grad);
  }
}

TEST_CASE("cuda: embedding, LM head (cross-entropy) and a block equal the CPU's") {
  auto L = testLane();
  const int64_t Vocab = 300, H = 6, Seq = 4;
  interp::Embedding<double> CpuE("embed", Vocab, H, Seq);
  Rng R(7);
  CpuE.init(R, 1.0);
  cu::Embedding<double> GpuE(CpuE, *L);
  interp::LmHead<double> CpuH("head", H, Vocab);
  CpuH.init(R, 0.4);
  cu::LmHead<double> GpuH(CpuH, *L);
  interp::Block<double> CpuB("block", H, 12, 2, Seq);
  CpuB.init(R, 0.4, 0.2);
  cu::Block<double> GpuB(CpuB, *L, 2, Seq);
  for (int32_t Mb : {0, 1}) {
    std::vector<int32_t> Tokens, Targets;
    Rng T(80 + Mb);
    for (int I = 0; I < 3 * Seq; ++I) // repeated ids exercise the scatter-add
      Tokens.push_back(static_cast<int32_t>(T.below(5))),
          Targets.push_back(static_cast<int32_t>(T.below(Vocab)));
    Tensor<double> E = CpuE.forward(Mb, Tokens);
    cu::DeviceTensor<double> DE = GpuE.forward(*L, Mb, Tokens);
    expectClose("embedding Y", down(DE, *L), E);
    Tensor<double> X = CpuB.forward(Mb, E);
    cu::DeviceTensor<double> DX = GpuB.forward(*L, Mb, DE);
    expectClose("block Y", down(DX, *L), X);
    const double Loss = CpuH.forward(Mb, X, Targets);
    const double GpuLoss = GpuH.forward(*L, Mb, DX, Targets);
    noteError("cross-entropy loss", std::abs(GpuLoss - Loss) / Loss);
    CHECK(std::abs(GpuLoss - Loss) < Tol * Loss);
    Tensor<double> G = CpuB.backward(Mb, CpuH.backward(Mb, 1.0 / 24));
    cu::DeviceTensor<double> DG = GpuB.backward(*L, Mb, GpuH.backward(*L, Mb, 1.0 / 24));
    expectClose("head + block dX", down(DG, *L), G);
    CpuE.backward(Mb, G);
    GpuE.backward(*L, Mb, DG);
  }
  ParamList<double> Pc = CpuE.params();
  for (const ParamList<double> &Part : {CpuB.params(), CpuH.params()})
    Pc.insert(Pc.end(), Part.begin(), Part.end());
  cu::DeviceParamList<double> Pg = GpuE.params();
  for (const cu::DeviceParamList<double> &Part : {GpuB.params(), GpuH.params()})
    Pg.insert(Pg.end(), Part.begin(), Part.end());
  REQUIRE(Pc.size() == Pg.size());
  for (size_t I = 0; I < Pc.size(); ++I)
    expectClose(("grad " + Pc[I]->Name).c_str(), down(Pg[I]->Grad, *L), Pc[I]->Grad);
}

TEST_CASE("cuda: SGD and AdamW steps equal the CPU's") {
  auto L = testLane();
  for (bool Adam : {false, true}) {
    Param<double> Cpu("p", {4, 5});
    Cpu.Value = randomTensor({4, 5}, 90);
    cu::DeviceParam<double> Gpu(Cpu, *L);
    auto CpuOpt = Adam ? createAdamW<double>({&Cpu}, AdamOptions{0.01, 0.9, 0.999, 1e-8, 0.01})
                       : createSgd<double>({&Cpu}, SgdOptions{0.1, 0.9, 0.01});
    auto GpuOpt = Adam ? cu::createAdamW<double>({&Gpu}, AdamOptions{0.01, 0.9, 0.999, 1e-8, 0.01}, *L)
                       : cu::createSgd<double>({&Gpu}, SgdOptions{0.1, 0.9, 0.01}, *L);
    for (uint64_t Step = 0; Step < 3; ++Step) {
      Cpu.Grad = randomTensor({4, 5}, 91 + Step);
      Gpu.Grad.copyFrom(Cpu.Grad, L->stream());
      CpuOpt->step();
      GpuOpt->step(*L);
    }
    expectClose(Adam ? "adamw 3 steps" : "sgd 3 steps", down(Gpu.Value, *L), Cpu.Value);
  }
}

TEST_CASE("cuda: failures become errors naming the call") {
  void *P = nullptr;
  CHECK_FALSE(PFC_CUDA_CHECK(cudaMalloc(&P, size_t(1) << 62)));
  (void)cudaGetLastError();
  const std::string F = cu::takeFailure();
  CHECK(F.find("cudaMalloc") != std::string::npos);
  CHECK(F.find("CudaKernelTest.cpp") != std::string::npos);
  CHECK(cu::takeFailure().empty());
}
