//===- ExecutorTest.cpp - pipelined steps equal the single-device step -----===//
//
// Plans are compiled by pfc's own passes for a small fp64 Transformer; the
// executor runs them with one thread per device. For every schedule the
// gradients (and, with SGD, the parameters after two steps) must equal a
// plain single-device run on one batch holding all micro-batches, to 1e-10.
// Micro-batches have uneven sizes on purpose: the loss is the step's token
// mean whatever the split.
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"
#include "PlanTestUtil.h"

#include "backends/interp/DataParallel.h"
#include "backends/interp/Executor.h"

#include <doctest/doctest.h>

using namespace pfc;
using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

Program compilePlan(proto::Schedule Schedule, const std::string &Pass, int32_t S, int32_t N,
                    int32_t V = 1) {
  return compileTinyPlan(tinyConfig(), Schedule, Pass, S, N, V);
}

std::vector<Batch> unevenBatches(int32_t N) { return test::unevenBatches(tinyConfig(), N, 5); }

double relDiff(Model<double> &A, Model<double> &B, bool Grads) {
  ParamList<double> Pa = A.params(), Pb = B.params();
  double Diff = 0, Ref = 0;
  for (size_t I = 0; I < Pa.size(); ++I) {
    const Tensor<double> &X = Grads ? Pa[I]->Grad : Pa[I]->Value;
    const Tensor<double> &Y = Grads ? Pb[I]->Grad : Pb[I]->Value;
    for (int64_t J = 0; J < X.numel(); ++J) {
      Diff = std::max(Diff, std::abs(X[J] - Y[J]));
      Ref = std::max(Ref, std::abs(X[J]));
    }
  }
  return Diff / Ref;
}

/// Runs \p Steps steps of the plan (SGD per stage) and of a single-device
/// reference; checks the loss, the gradients and the parameters.
void checkAgainstReference(const char *Name, const Program &P, int32_t Steps) {
  const ModelConfig C = tinyConfig();
  const int32_t N = P.Options.microbatches();
  std::vector<std::unique_ptr<Model<double>>> Owned;
  std::vector<Model<double> *> Replicas;
  for (int32_t I = 0; I < pipelines(P); ++I) {
    Owned.push_back(std::make_unique<Model<double>>(C));
    Replicas.push_back(Owned.back().get());
  }
  auto Exec = Executor<double>::create(P, Replicas);
  REQUIRE_MESSAGE(static_cast<bool>(Exec), llvm::toString(Exec.takeError()));
  const SgdOptions Sgd{0.05, 0.9, 0.01};
  std::vector<std::unique_ptr<Optimizer<double>>> Opts;
  for (int32_t S = 0; S < P.numStages(); ++S) {
    const Stage &St = P.Stages[S];
    Opts.push_back(createSgd(Replicas[St.Pipeline]->params(St.LayerBegin, St.LayerEnd), Sgd));
    Exec->setOptimizer(S, Opts.back().get());
  }

  Model<double> Ref(C);
  auto RefOpt = createSgd(Ref.params(), Sgd);
  double WorstGrad = 0, WorstParam = 0;
  for (int32_t Step = 0; Step < Steps; ++Step) {
    std::vector<Batch> Batches = unevenBatches(N);
    for (Batch &B : Batches) // fresh data every step
      B = syntheticBatch(C, 100 + Step, static_cast<int32_t>(&B - Batches.data()), B.Sequences);
    Batch Whole = concatBatches(Batches);
    Ref.zeroGrad();
    double RefLoss = Ref.forward(0, Ref.numLayers(), 0, Whole, {})[0];
    (void)Ref.backward(0, Ref.numLayers(), 0, {}, 1.0 / static_cast<double>(Whole.Tokens.size()));

    llvm::Expected<StepResult> R = Exec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(R), llvm::toString(R.takeError()));
    CHECK(std::abs(R->Loss - RefLoss) < 1e-12 * RefLoss);
    for (Model<double> *M : Replicas)
      WorstGrad = std::max(WorstGrad, relDiff(Ref, *M, /*Grads=*/true));
    RefOpt->step();
    for (Model<double> *M : Replicas)
      WorstParam = std::max(WorstParam, relDiff(Ref, *M, /*Grads=*/false));
  }
  noteError((std::string(Name) + " gradients vs one device").c_str(), WorstGrad);
  noteError((std::string(Name) + " parameters after SGD").c_str(), WorstParam);
  CHECK(WorstGrad < 1e-10);
  CHECK(WorstParam < 1e-10);
}

} // namespace

TEST_CASE("interp: GPipe step equals the single-device step") {
  checkAgainstReference("GPipe S=4 N=5", compilePlan(proto::GPIPE, "schedule-gpipe", 4, 5), 2);
}

TEST_CASE("interp: 1F1B step equals the single-device step") {
  checkAgainstReference("1F1B S=4 N=6", compilePlan(proto::ONE_F_ONE_B, "schedule-1f1b", 4, 6),
                        2);
  checkAgainstReference("1F1B S=1 N=3", compilePlan(proto::ONE_F_ONE_B, "schedule-1f1b", 1, 3),
                        1);
}

TEST_CASE("interp: interleaved step equals the single-device step") {
  checkAgainstReference("interleaved S=2 V=2 N=4",
                        compilePlan(proto::INTERLEAVED, "schedule-interleaved", 2, 4, 2), 2);
}

TEST_CASE("interp: Chimera step (two replicas, all-reduce) equals the single-device step") {
  checkAgainstReference("Chimera S=4 N=8", compilePlan(proto::CHIMERA, "schedule-chimera", 4, 8),
                        2);
}

TEST_CASE("interp: data-parallel replicas (expanded) step like one device on all their batches") {
  // 1F1B on 2 devices, 3 micro-batches per replica, 2 replicas: the gradient
  // all-reduces sum the replicas' gradients; 6 uneven micro-batches in all.
  for (proto::Schedule Sched : {proto::ONE_F_ONE_B, proto::CHIMERA}) {
    const bool Chimera = Sched == proto::CHIMERA;
    const Program P = compileTinyPlan(tinyConfig(), Sched,
                                      Chimera ? "schedule-chimera" : "schedule-1f1b",
                                      Chimera ? 4 : 2, Chimera ? 4 : 3, 1, false, 2);
    llvm::Expected<Program> Dp = expandDataParallel(P);
    REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
    CHECK(Dp->numDevices() == 2 * P.numDevices());
    CHECK(Dp->Options.microbatches() == 2 * P.Options.microbatches());
    CHECK(pipelines(*Dp) == 2 * pipelines(P));
    checkAgainstReference(Chimera ? "Chimera S=4 N=4 D=2" : "1F1B S=2 N=3 D=2", *Dp, 2);
  }
  // A plan that says ZeRO but has all-reduces (no reduce-scatter): refused,
  // not run as if it sharded (ZeroExecTest runs real ZeRO plans).
  Program Zero = compileTinyPlan(tinyConfig(), proto::ONE_F_ONE_B, "schedule-1f1b", 2, 2);
  Zero.Options.set_data_parallel(2), Zero.Options.set_zero(1);
  llvm::Expected<Program> Refused = expandDataParallel(Zero);
  REQUIRE_FALSE(static_cast<bool>(Refused));
  CHECK(llvm::toString(Refused.takeError()).find("the plan says ZeRO stage 1, but its stage") !=
        std::string::npos);
}

TEST_CASE("interp: the executor rejects what it cannot run and detects deadlock") {
  Model<double> M(tinyConfig());
  Program P = compilePlan(proto::GPIPE, "schedule-gpipe", 2, 2);
  Program Dp = P;
  Dp.Options.set_data_parallel(2);
  auto E1 = Executor<double>::create(Dp, {&M});
  REQUIRE_FALSE(static_cast<bool>(E1));
  CHECK(llvm::toString(E1.takeError()).find("one data-parallel replica") != std::string::npos);

  Program Unknown = P;
  Task Odd;
  Odd.Kind = proto::TASK_KIND_UNSPECIFIED, Odd.Device = 0, Odd.Stage = 0, Odd.Microbatch = 0;
  Unknown.addTask(Odd);
  auto E2 = Executor<double>::create(Unknown, {&M});
  REQUIRE_FALSE(static_cast<bool>(E2));
  CHECK(llvm::toString(E2.takeError()).find("cannot run") != std::string::npos);

  // Chimera's two replicas' gradient all-reduce of a stage in different
  // steps of a refresh cycle: the first to arrive would wait forever.
  Program Apart = compilePlan(proto::CHIMERA, "schedule-chimera", 2, 2);
  for (Task &Tk : Apart.Tasks)
    if (Tk.Kind == proto::ALL_REDUCE && Apart.Stages[Tk.Stage].Pipeline == 1)
      Tk.CycleStep = 1;
  Model<double> M2(tinyConfig());
  auto E3 = Executor<double>::create(Apart, {&M, &M2});
  REQUIRE_FALSE(static_cast<bool>(E3));
  CHECK(llvm::toString(E3.takeError()).find("different steps of the refresh cycle") !=
        std::string::npos);

  // Device 0's first forward made to wait for device 1's last backward.
  Program Cycle = P;
  const TaskId First = Cycle.stream(0, proto::COMPUTE).front();
  const TaskId Last = Cycle.stream(1, proto::COMPUTE).back();
  Cycle.addEdge(Last, First);
  auto Exec = Executor<double>::create(Cycle, {&M});
  REQUIRE(static_cast<bool>(Exec));
  std::vector<Batch> B = unevenBatches(2);
  auto R = Exec->runStep(B);
  REQUIRE_FALSE(static_cast<bool>(R));
  CHECK(llvm::toString(R.takeError()).find("deadlocks") != std::string::npos);
}

TEST_CASE("interp: an fp32 pipelined step follows the fp64 single-device step") {
  Program P = compilePlan(proto::ONE_F_ONE_B, "schedule-1f1b", 4, 4);
  Model<float> M(tinyConfig());
  auto Exec = Executor<float>::create(P, {&M});
  REQUIRE(static_cast<bool>(Exec));
  std::vector<Batch> Batches = unevenBatches(4);
  auto R = Exec->runStep(Batches);
  REQUIRE(static_cast<bool>(R));

  Model<double> Ref(tinyConfig());
  Batch Whole = concatBatches(Batches);
  Ref.zeroGrad();
  double RefLoss = Ref.forward(0, Ref.numLayers(), 0, Whole, {})[0];
  (void)Ref.backward(0, Ref.numLayers(), 0, {}, 1.0 / static_cast<double>(Whole.Tokens.size()));
  CHECK(std::abs(R->Loss - RefLoss) < 1e-5 * RefLoss);
  ParamList<float> Pf = M.params();
  ParamList<double> Pd = Ref.params();
  double Diff = 0, Scale = 0;
  for (size_t I = 0; I < Pd.size(); ++I)
    for (int64_t J = 0; J < Pd[I]->Grad.numel(); ++J) {
      Diff = std::max(Diff, std::abs(Pf[I]->Grad[J] - Pd[I]->Grad[J]));
      Scale = std::max(Scale, std::abs(Pd[I]->Grad[J]));
    }
  noteError("1F1B fp32 gradients vs fp64 one device", Diff / Scale);
  CHECK(Diff / Scale < 1e-4);
}
