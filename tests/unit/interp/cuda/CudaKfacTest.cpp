//===- CudaKfacTest.cpp - K-FAC factors, inverses and Δ: CUDA equals CPU ---===//
//
// The same micro-batches of inputs and output gradients go into CPU and GPU
// factors over two steps (so the running average's decay is exercised);
// the averages, π, the damped Cholesky inverses and the preconditioned
// gradient Δ = G⁻¹ V A⁻¹ must agree to 1e-10 in fp64. The fp32 inverse
// takes the fp64 retry on the matrix that is singular in float, as on the
// CPU, and an indefinite matrix fails without a CUDA error.
//
//===----------------------------------------------------------------------===//
#include "CudaTestUtil.h"

#include "backends/interp/cuda/CudaKfac.h"

using namespace pfc;
using namespace pfc::interp;
using namespace pfc::interp::test;
namespace cu = pfc::interp::cuda;

TEST_CASE("cuda: K-FAC factors, inverses and the preconditioned gradient equal the CPU's") {
  auto L = testLane();
  const int64_t In = 6, Out = 4;
  const double Scale = 1.0 / 40; // loss scale: 2 micro-batches x 5 rows, 4 steps' worth
  KfacFactors<double> Cpu(In, Out, true);
  cu::DeviceFactors<double> Gpu(In, Out, true, *L);
  for (uint64_t Step = 0; Step < 2; ++Step) {
    for (uint64_t Mb = 0; Mb < 2; ++Mb) {
      Tensor<double> X = randomTensor({5, In}, 100 + 10 * Step + Mb);
      Tensor<double> DY = randomTensor({5, Out}, 200 + 10 * Step + Mb, Scale);
      accumulateA(Cpu, X), accumulateG(Cpu, DY, Scale);
      cu::accumulateA(*L, Gpu, up(X, *L)), cu::accumulateG(*L, Gpu, up(DY, *L), Scale);
    }
    CHECK(Gpu.RowsA == Cpu.RowsA);
    CHECK(Gpu.RowsG == Cpu.RowsG);
    expectClose("sum A", down(Gpu.SumA, *L), Cpu.SumA);
    expectClose("sum G", down(Gpu.SumG, *L), Cpu.SumG);
    updateAverages(Cpu, 0.9);
    cu::updateAverages(*L, Gpu, 0.9);
  }
  REQUIRE(Gpu.HasAverage);
  expectClose("A (running average)", down(Gpu.A, *L), Cpu.A);
  expectClose("G (running average)", down(Gpu.G, *L), Cpu.G);
  CHECK(down(Gpu.SumA, *L)[0] == 0.0);
  CHECK(Gpu.RowsA == 0);

  const double Pi = piDamping(Cpu.A, Cpu.G), GpuPi = cu::piDamping(*L, Gpu.A, Gpu.G);
  CHECK(std::abs(GpuPi - Pi) < 1e-13 * Pi);
  REQUIRE(invertFactors(Cpu, 0.03));
  REQUIRE(cu::invertFactors(*L, Gpu, 0.03));
  requireNoCudaError();
  expectClose("A^-1 (damped)", down(Gpu.AInv, *L), Cpu.AInv);
  expectClose("G^-1 (damped)", down(Gpu.GInv, *L), Cpu.GInv);

  Tensor<double> W = randomTensor({Out, In}, 300), B = randomTensor({Out}, 301);
  cu::DeviceTensor<double> DW = up(W, *L), DB = up(B, *L);
  Tensor<double> V = joinWeightBias(W, &B);
  cu::DeviceTensor<double> DV = cu::joinWeightBias(*L, DW, &DB);
  expectClose("[dW | db]", down(DV, *L), V);
  Tensor<double> Delta = precondition(Cpu.GInv, V, Cpu.AInv);
  cu::DeviceTensor<double> DDelta = cu::precondition(*L, Gpu.GInv, DV, Gpu.AInv);
  expectClose("delta = G^-1 V A^-1", down(DDelta, *L), Delta);
  splitWeightBias(Delta, W, &B);
  cu::splitWeightBias(*L, DDelta, DW, &DB);
  expectClose("delta split: W", down(DW, *L), W);
  expectClose("delta split: b", down(DB, *L), B);
}

TEST_CASE("cuda: fp32 Cholesky retries in fp64; indefinite matrices fail cleanly") {
  auto L = testLane();
  // 1 + 1e-9 rounds to 1 in float: singular there, positive definite in double.
  Tensor<float> M = Tensor<float>::matrix(2, 2, 1.0f);
  cu::DeviceTensor<float> Inv;
  bool Retried = false;
  REQUIRE(cu::dampedInverse(*L, up(M, *L), 1e-9, Inv, &Retried));
  CHECK(Retried);
  const double D = 1 + 1e-9;
  CHECK(std::abs(down(Inv, *L).at(0, 0) / (D / (D * D - 1)) - 1) < 1e-5);

  Tensor<double> Bad = Tensor<double>::matrix(2, 2, 2.0);
  Bad.at(0, 0) = Bad.at(1, 1) = 1.0; // eigenvalues 3 and -1
  cu::DeviceTensor<double> BadInv;
  CHECK_FALSE(cu::dampedInverse(*L, up(Bad, *L), 0.0, BadInv));
  requireNoCudaError();

  // fp32 factors follow the fp64 CPU reference to float accuracy.
  KfacFactors<double> Ref(3, 2, true);
  cu::DeviceFactors<float> F32(3, 2, true, *L);
  Tensor<double> X = randomTensor({7, 3}, 400), DY = randomTensor({7, 2}, 401, 0.1);
  accumulateA(Ref, X), accumulateG(Ref, DY, 0.1);
  cu::accumulateA(*L, F32, up(castTensor<float>(X), *L));
  cu::accumulateG(*L, F32, up(castTensor<float>(DY), *L), 0.1f);
  updateAverages(Ref, 0.9);
  cu::updateAverages(*L, F32, 0.9);
  REQUIRE(invertFactors(Ref, 0.03));
  REQUIRE(cu::invertFactors(*L, F32, 0.03));
  expectClose("fp32 A^-1 vs fp64 CPU", castTensor<double>(down(F32.AInv, *L)), Ref.AInv, 1e-4);
  expectClose("fp32 G^-1 vs fp64 CPU", castTensor<double>(down(F32.GInv, *L)), Ref.GInv, 1e-4);
}
