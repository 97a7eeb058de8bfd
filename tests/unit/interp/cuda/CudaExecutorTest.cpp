//===- CudaExecutorTest.cpp - GPU model and pipelined steps equal the CPU's ===//
//
// The whole model's forward/backward on the GPU equals the CPU model's, and
// for every schedule a CUDA executor step (one lane per plan device, SGD on
// the GPU) equals the CPU executor's step on the same plan and uneven
// micro-batches: loss, every gradient and every parameter after two steps,
// to 1e-10 in fp64 (cross-device dependencies as CUDA events, and once with
// a lane synchronisation after every task); an fp32 GPU step follows the fp64 CPU step to 1e-4.
// K-FAC through a plan's tasks (curvature, inversion, preconditioning, a
// refresh cycle, warm-up) gives the same factors, inverses, KL clip and
// parameters on both backends.
//
//===----------------------------------------------------------------------===//
#include "../PlanTestUtil.h"
#include "CudaTestUtil.h"

#include "backends/interp/cuda/CudaExecutor.h"

using namespace pfc;
using namespace pfc::interp;
using namespace pfc::interp::test;
namespace cu = pfc::interp::cuda;

namespace {

/// \p Pass empty: pfc's default pipeline for the options (K-FAC included).
Program compilePlan(proto::Schedule Schedule, const std::string &Pass, int32_t S, int32_t N,
                    int32_t V = 1, bool Kfac = false) {
  return compileTinyPlan(tinyConfig(), Schedule, Pass, S, N, V, Kfac);
}

std::vector<Batch> unevenBatches(int32_t N, uint64_t Seed) {
  return test::unevenBatches(tinyConfig(), N, Seed);
}

/// Largest relDiff over the parameters' values or gradients.
template <typename T>
double modelDiff(interp::Model<T> &Gpu, interp::Model<double> &Cpu, bool Grads) {
  ParamList<T> Pg = Gpu.params();
  ParamList<double> Pc = Cpu.params();
  double Worst = 0;
  for (size_t I = 0; I < Pc.size(); ++I)
    Worst = std::max(Worst, relDiff(castTensor<double>(Grads ? Pg[I]->Grad : Pg[I]->Value),
                                    Grads ? Pc[I]->Grad : Pc[I]->Value));
  return Worst;
}

/// Runs \p Steps SGD steps of \p P on the CPU (fp64) and the GPU (T) from
/// the same weights and data; returns the worst loss, gradient and
/// parameter differences.
template <typename T>
std::array<double, 3> compareSteps(const Program &P, int32_t Steps, bool SyncEachTask = false) {
  auto Setup = testLane();
  const ModelConfig C = tinyConfig();
  const SgdOptions Sgd{0.05, 0.9, 0.01};
  std::vector<std::unique_ptr<interp::Model<double>>> CpuOwned;
  std::vector<interp::Model<double> *> CpuReplicas;
  std::vector<std::unique_ptr<interp::Model<T>>> HostOwned; // GPU weights' source and copy
  std::vector<std::unique_ptr<cu::Model<T>>> GpuOwned;
  std::vector<cu::Model<T> *> GpuReplicas;
  for (int32_t I = 0; I < pipelines(P); ++I) {
    CpuReplicas.push_back(CpuOwned.emplace_back(std::make_unique<interp::Model<double>>(C)).get());
    HostOwned.push_back(std::make_unique<interp::Model<T>>(C));
    GpuReplicas.push_back(
        GpuOwned.emplace_back(std::make_unique<cu::Model<T>>(*HostOwned.back(), *Setup)).get());
  }
  auto CpuExec = interp::Executor<double>::create(P, CpuReplicas);
  REQUIRE_MESSAGE(static_cast<bool>(CpuExec), llvm::toString(CpuExec.takeError()));
  auto GpuExec = cu::Executor<T>::create(P, GpuReplicas);
  REQUIRE_MESSAGE(static_cast<bool>(GpuExec), llvm::toString(GpuExec.takeError()));
  (*GpuExec)->setSyncEachTask(SyncEachTask);
  std::vector<std::unique_ptr<interp::Optimizer<double>>> CpuOpts;
  std::vector<std::unique_ptr<cu::Optimizer<T>>> GpuOpts;
  for (int32_t S = 0; S < P.numStages(); ++S) {
    const Stage &St = P.Stages[S];
    CpuOpts.push_back(
        createSgd(CpuReplicas[St.Pipeline]->params(St.LayerBegin, St.LayerEnd), Sgd));
    CpuExec->setOptimizer(S, CpuOpts.back().get());
    GpuOpts.push_back(
        cu::createSgd(GpuReplicas[St.Pipeline]->params(St.LayerBegin, St.LayerEnd), Sgd, *Setup));
    (*GpuExec)->setOptimizer(S, GpuOpts.back().get());
  }
  Setup->sync();
  requireNoCudaError();
  std::array<double, 3> Worst{0, 0, 0};
  for (int32_t Step = 0; Step < Steps; ++Step) {
    std::vector<Batch> Batches = unevenBatches(P.Options.microbatches(), 100 + Step);
    auto Rc = CpuExec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rc), llvm::toString(Rc.takeError()));
    auto Rg = (*GpuExec)->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rg), llvm::toString(Rg.takeError()));
    Worst[0] = std::max(Worst[0], std::abs(Rg->Loss - Rc->Loss) / Rc->Loss);
    for (TaskId Id = 0; Id < P.numTasks(); ++Id) // GPU times of the tasks that ran
      CHECK((Rg->TaskMs[Id] >= 0) == (Rc->TaskMs[Id] >= 0));
    for (size_t I = 0; I < GpuOwned.size(); ++I) {
      GpuOwned[I]->download(*Setup, *HostOwned[I]);
      requireNoCudaError();
      Worst[1] = std::max(Worst[1], modelDiff(*HostOwned[I], *CpuReplicas[I], true));
      Worst[2] = std::max(Worst[2], modelDiff(*HostOwned[I], *CpuReplicas[I], false));
    }
  }
  return Worst;
}

void checkSchedule(const char *Name, const Program &P, bool SyncEachTask = false) {
  const auto [Loss, Grad, Value] = compareSteps<double>(P, 2, SyncEachTask);
  noteError((std::string(Name) + " loss, CUDA vs CPU").c_str(), Loss);
  noteError((std::string(Name) + " gradients, CUDA vs CPU").c_str(), Grad);
  noteError((std::string(Name) + " parameters after SGD").c_str(), Value);
  CHECK(Loss < Tol);
  CHECK(Grad < Tol);
  CHECK(Value < Tol);
}

} // namespace

TEST_CASE("cuda: the whole model's forward and backward equal the CPU model's") {
  auto L = testLane();
  const ModelConfig C = tinyConfig();
  interp::Model<double> Cpu(C), Copy(C);
  cu::Model<double> Gpu(Cpu, *L);
  const Batch B = concatBatches(unevenBatches(3, 7));
  const double Scale = 1.0 / static_cast<double>(B.Tokens.size());
  const double Loss = Cpu.forward(0, Cpu.numLayers(), 0, B, {})[0];
  (void)Cpu.backward(0, Cpu.numLayers(), 0, {}, Scale);
  double GpuLoss = 0;
  (void)Gpu.forward(*L, 0, Gpu.numLayers(), 0, B, {}, &GpuLoss);
  (void)Gpu.backward(*L, 0, Gpu.numLayers(), 0, {}, Scale);
  Gpu.download(*L, Copy);
  requireNoCudaError();
  noteError("model loss, CUDA vs CPU", std::abs(GpuLoss - Loss) / Loss);
  CHECK(std::abs(GpuLoss - Loss) < Tol * Loss);
  const double Grad = modelDiff(Copy, Cpu, true);
  noteError("model gradients, CUDA vs CPU", Grad);
  CHECK(Grad < Tol);
}

TEST_CASE("cuda: GPipe step equals the CPU executor's") {
  checkSchedule("GPipe S=4 N=5", compilePlan(proto::GPIPE, "schedule-gpipe", 4, 5));
}

TEST_CASE("cuda: 1F1B step equals the CPU executor's (events, and a sync per task)") {
  const Program P = compilePlan(proto::ONE_F_ONE_B, "schedule-1f1b", 4, 6);
  checkSchedule("1F1B S=4 N=6", P);
  checkSchedule("1F1B S=4 N=6, sync per task", P, /*SyncEachTask=*/true);
}

TEST_CASE("cuda: interleaved step equals the CPU executor's") {
  checkSchedule("interleaved S=2 V=2 N=4",
                compilePlan(proto::INTERLEAVED, "schedule-interleaved", 2, 4, 2));
}

TEST_CASE("cuda: Chimera step (two replicas, all-reduce) equals the CPU executor's") {
  checkSchedule("Chimera S=4 N=8", compilePlan(proto::CHIMERA, "schedule-chimera", 4, 8));
}

TEST_CASE("cuda: an fp32 GPU step follows the fp64 CPU step") {
  const auto [Loss, Grad, Value] =
      compareSteps<float>(compilePlan(proto::ONE_F_ONE_B, "schedule-1f1b", 4, 4), 1);
  noteError("1F1B fp32 CUDA gradients vs fp64 CPU", Grad);
  CHECK(Loss < 1e-5);
  CHECK(Grad < 1e-4);
  CHECK(Value < 1e-4);
}

TEST_CASE("cuda: the executor rejects what it cannot run") {
  auto L = testLane();
  interp::Model<double> Cpu(tinyConfig());
  cu::Model<double> Gpu(Cpu, *L);
  Program P = compilePlan(proto::GPIPE, "schedule-gpipe", 2, 2);
  Program Dp = P;
  Dp.Options.set_data_parallel(2);
  auto E1 = cu::Executor<double>::create(Dp, {&Gpu});
  REQUIRE_FALSE(static_cast<bool>(E1));
  CHECK(llvm::toString(E1.takeError()).find("one data-parallel replica") != std::string::npos);
  auto Exec = cu::Executor<double>::create(P, {&Gpu});
  REQUIRE(static_cast<bool>(Exec));
  std::vector<Batch> One = unevenBatches(1, 3);
  auto R = (*Exec)->runStep(One);
  REQUIRE_FALSE(static_cast<bool>(R));
  CHECK(llvm::toString(R.takeError()).find("micro-batch 1, 1 were given") != std::string::npos);
}

TEST_CASE("cuda: K-FAC through a plan's tasks equals the CPU executor's") {
  const Program P = compilePlan(proto::ONE_F_ONE_B, "", 2, 4, 1, /*Kfac=*/true);
  int32_t Cycle = 0;
  for (const Task &Tk : P.Tasks)
    Cycle += isCycleTask(Tk.Kind);
  REQUIRE(Cycle > 0);
  auto Setup = testLane();
  const ModelConfig C = tinyConfig();
  interp::Model<double> Cpu(C), Host(C);
  cu::Model<double> Gpu(Cpu, *Setup);
  auto CpuExec = interp::Executor<double>::create(P, {&Cpu});
  REQUIRE(static_cast<bool>(CpuExec));
  auto GpuExec = cu::Executor<double>::create(P, {&Gpu});
  REQUIRE(static_cast<bool>(GpuExec));
  KfacOptions O;
  O.Sgd.Lr = 0.05, O.PlanDriven = true, O.Decay = 0.8;
  std::vector<std::unique_ptr<interp::KfacOptimizer<double>>> CpuOpts;
  std::vector<std::unique_ptr<cu::KfacOptimizer<double>>> GpuOpts;
  for (int32_t S = 0; S < P.numStages(); ++S) {
    const Stage &St = P.Stages[S];
    const int32_t B = std::max(St.LayerBegin, 1), E = std::min(St.LayerEnd, C.Layers + 1);
    CpuOpts.push_back(std::make_unique<interp::KfacOptimizer<double>>(
        Cpu.params(St.LayerBegin, St.LayerEnd), Cpu.linears(B, E), O));
    CpuExec->setOptimizer(S, CpuOpts.back().get());
    GpuOpts.push_back(std::make_unique<cu::KfacOptimizer<double>>(
        Gpu.params(St.LayerBegin, St.LayerEnd), Gpu.linears(B, E), O, *Setup));
    (*GpuExec)->setOptimizer(S, GpuOpts.back().get());
  }
  CpuExec->setKfacWarmup(1);
  (*GpuExec)->setKfacWarmup(1);
  Setup->sync();
  requireNoCudaError();
  double WorstLoss = 0, WorstFactor = 0, WorstInverse = 0, WorstClip = 0;
  for (int32_t Step = 0; Step < 5; ++Step) {
    std::vector<Batch> Batches = unevenBatches(P.Options.microbatches(), 300 + Step);
    auto Rc = CpuExec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rc), llvm::toString(Rc.takeError()));
    auto Rg = (*GpuExec)->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rg), llvm::toString(Rg.takeError()));
    WorstLoss = std::max(WorstLoss, std::abs(Rg->Loss - Rc->Loss) / Rc->Loss);
    for (size_t S = 0; S < CpuOpts.size(); ++S) {
      WorstClip = std::max(WorstClip, std::abs(GpuOpts[S]->lastClip() - CpuOpts[S]->lastClip()));
      for (size_t I = 0; I < CpuOpts[S]->numLayers(); ++I) {
        const KfacFactors<double> &Fc = CpuOpts[S]->factors(I);
        cu::DeviceFactors<double> &Fg = GpuOpts[S]->mutableFactors(I);
        REQUIRE(Fg.HasAverage == Fc.HasAverage);
        REQUIRE(Fg.HasInverse == Fc.HasInverse);
        if (Fc.HasAverage)
          WorstFactor = std::max({WorstFactor, relDiff(down(Fg.A, *Setup), Fc.A),
                                  relDiff(down(Fg.G, *Setup), Fc.G)});
        if (Fc.HasInverse)
          WorstInverse = std::max({WorstInverse, relDiff(down(Fg.AInv, *Setup), Fc.AInv),
                                   relDiff(down(Fg.GInv, *Setup), Fc.GInv)});
      }
    }
  }
  Gpu.download(*Setup, Host);
  requireNoCudaError();
  const double Params = modelDiff(Host, Cpu, false);
  noteError("K-FAC 1F1B loss, CUDA vs CPU", WorstLoss);
  noteError("K-FAC factors A, G, CUDA vs CPU", WorstFactor);
  noteError("K-FAC inverses, CUDA vs CPU", WorstInverse);
  noteError("K-FAC KL clip nu, CUDA vs CPU (abs)", WorstClip);
  noteError("K-FAC parameters after 5 steps", Params);
  CHECK(WorstLoss < Tol);
  CHECK(WorstFactor < Tol);
  CHECK(WorstInverse < Tol);
  CHECK(WorstClip < Tol);
  CHECK(Params < Tol);
}
