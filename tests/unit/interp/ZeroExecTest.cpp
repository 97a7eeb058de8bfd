//===- ZeroExecTest.cpp - ZeRO plans step like the plan without replicas ---===//
//
// ZeRO-1/2/3 plans compiled by pfc's own passes (zero-sync) for every
// schedule, with D = 2 data-parallel replicas expanded by expandDataParallel,
// run in fp64 with SGD and AdamW sharded per replica; the D = 1 plan of the
// same schedule on the same micro-batches (2N of them) is the reference:
// losses and every replica's parameters after each of three steps to 1e-10,
// each copy's gradient shard to 1e-10 (the rest NaN), and each optimizer's
// state the size of its shard. Plans whose ZeRO collectives are out of order
// are refused, and sharded SGD/AdamW equal whole ones on their shards.
// K-FAC with ZeRO: KfacZeroExecTest.cpp.
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"
#include "PlanTestUtil.h"

#include "backends/interp/DataParallel.h"
#include "backends/interp/Executor.h"

#include <fmt/format.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

using namespace pfc;
using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

/// compileTinyPlan's model and cluster, pfc's default pipeline for the
/// options (zero-sync under --zero), on 2 devices per replica.
Program compileZeroPlan(proto::Schedule Schedule, int32_t N, int32_t V, int32_t D, int32_t Zero) {
  return compileReplicatedPlan(tinyConfig(), Schedule, N, V, D, Zero);
}

/// One tinyConfig() model per pipeline of \p P (owned), and pointers to them.
std::pair<std::vector<std::unique_ptr<Model<double>>>, std::vector<Model<double> *>>
tinyReplicas(const Program &P) {
  std::vector<std::unique_ptr<Model<double>>> Models;
  std::vector<Model<double> *> Replicas;
  for (int32_t I = 0; I < P.numPipelines(); ++I)
    Replicas.push_back(Models.emplace_back(std::make_unique<Model<double>>(tinyConfig())).get());
  return {std::move(Models), std::move(Replicas)};
}

enum class Opt { Sgd, Adam };

/// A plan's models and per-stage optimizers, ready to step.
struct Run {
  Program Plan;
  std::vector<std::unique_ptr<Model<double>>> Models;
  std::vector<std::unique_ptr<Optimizer<double>>> Opts;
  std::optional<Executor<double>> Exec;

  Run(Program P, Opt Kind) : Plan(std::move(P)) {
    std::vector<Model<double> *> Replicas;
    std::tie(Models, Replicas) = tinyReplicas(Plan);
    auto E = Executor<double>::create(Plan, Replicas);
    REQUIRE_MESSAGE(static_cast<bool>(E), llvm::toString(E.takeError()));
    Exec.emplace(std::move(*E));
    for (int32_t S = 0; S < Plan.numStages(); ++S) {
      const Stage &St = Plan.Stages[S];
      ParamList<double> Ps = Replicas[St.Pipeline]->params(St.LayerBegin, St.LayerEnd);
      Opts.push_back(Kind == Opt::Sgd ? createSgd(Ps, SgdOptions{0.05, 0.9, 0.01})
                                      : createAdamW(Ps, AdamOptions{1e-2, 0.9, 0.999, 1e-8, 0.01}));
      Exec->setOptimizer(S, Opts.back().get());
    }
  }
  ParamList<double> stageParams(int32_t S) {
    const Stage &St = Plan.Stages[S];
    return Models[St.Pipeline]->params(St.LayerBegin, St.LayerEnd);
  }
};

/// \p Worst becomes \p Err if that is larger or NaN.
void worse(double &Worst, double Err) {
  if (!(Err <= Worst))
    Worst = Err;
}

/// max |x - y| / max |y| over the flat range [Begin, End) of two lists of
/// one layout; \p Grads: the gradients, else the values.
double relDiff(const ParamList<double> &X, const ParamList<double> &Y, bool Grads, int64_t Begin,
               int64_t End) {
  double Diff = 0, Ref = 0;
  forFlatRange(X, Begin, End, [&](size_t I, int64_t J0, int64_t J1, int64_t) {
    const Tensor<double> &A = Grads ? X[I]->Grad : X[I]->Value;
    const Tensor<double> &B = Grads ? Y[I]->Grad : Y[I]->Value;
    for (int64_t J = J0; J < J1; ++J) {
      worse(Diff, std::abs(A[J] - B[J]));
      Ref = std::max(Ref, std::abs(B[J]));
    }
  });
  return Ref > 0 ? Diff / Ref : Diff;
}

/// Elements of the flat range [Begin, End) of \p X's gradients (or values)
/// that are NaN.
int64_t nans(const ParamList<double> &X, bool Grads, int64_t Begin, int64_t End) {
  int64_t N = 0;
  forFlatRange(X, Begin, End, [&](size_t I, int64_t J0, int64_t J1, int64_t) {
    const Tensor<double> &A = Grads ? X[I]->Grad : X[I]->Value;
    for (int64_t J = J0; J < J1; ++J)
      N += std::isnan(A[J]);
  });
  return N;
}

/// \p Steps steps of the D = 2 ZeRO plan \p Zero and of the D = 1 plan
/// \p Ref (2N micro-batches): losses, parameters, gradient shards, state.
void checkZero(const char *Name, const Program &Zero, const Program &Ref, Opt Kind,
               int32_t Steps = 3) {
  llvm::Expected<Program> Dp = expandDataParallel(Zero);
  REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
  REQUIRE(Dp->Options.microbatches() == Ref.Options.microbatches());
  Run Z(std::move(*Dp), Kind), R(Ref, Kind);
  const ModelConfig C = tinyConfig();
  const int32_t N = Ref.Options.microbatches();
  double WorstLoss = 0, WorstParam = 0, WorstGrad = 0;
  for (int32_t Step = 0; Step < Steps; ++Step) {
    std::vector<Batch> Batches = unevenBatches(C, N, 40 + Step);
    llvm::Expected<StepResult> Rz = Z.Exec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rz), llvm::toString(Rz.takeError()));
    llvm::Expected<StepResult> Rr = R.Exec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rr), llvm::toString(Rr.takeError()));
    worse(WorstLoss, std::abs(Rz->Loss - Rr->Loss) / Rr->Loss);
    // Every stage of every replica against the reference stage of its layers.
    for (int32_t S = 0; S < Z.Plan.numStages(); ++S) {
      const Stage &St = Z.Plan.Stages[S];
      int32_t RefStage = -1;
      for (int32_t Q = 0; Q < R.Plan.numStages(); ++Q)
        if (R.Plan.Stages[Q].LayerBegin == St.LayerBegin &&
            R.Plan.Stages[Q].LayerEnd == St.LayerEnd)
          RefStage = Q;
      REQUIRE(RefStage >= 0);
      const ParamList<double> Mine = Z.stageParams(S), Theirs = R.stageParams(RefStage);
      const int64_t Size = flatSize(Mine);
      worse(WorstParam, relDiff(Mine, Theirs, false, 0, Size));
      // The shard this copy owns: the summed gradient; the rest: NaN.
      const int32_t Copies = static_cast<int32_t>(
          std::count_if(Z.Plan.Stages.begin(), Z.Plan.Stages.end(), [&](const Stage &O) {
            return O.LayerBegin == St.LayerBegin && O.LayerEnd == St.LayerEnd;
          }));
      int32_t Rank = 0;
      for (int32_t Q = 0; Q < S; ++Q)
        Rank += Z.Plan.Stages[Q].LayerBegin == St.LayerBegin &&
                Z.Plan.Stages[Q].LayerEnd == St.LayerEnd;
      const auto [Begin, End] = zeroShard(Size, Rank, Copies);
      CHECK(End - Begin >= Size / Copies);
      worse(WorstGrad, relDiff(Mine, Theirs, true, Begin, End));
      CHECK(nans(Mine, true, 0, Begin) + nans(Mine, true, End, Size) == Size - (End - Begin));
      CHECK(Z.Opts[S]->stateElements() == (Kind == Opt::Sgd ? 1 : 2) * (End - Begin));
      CHECK(R.Opts[RefStage]->stateElements() == (Kind == Opt::Sgd ? 1 : 2) * Size);
    }
  }
  noteError((std::string(Name) + " loss").c_str(), WorstLoss);
  noteError((std::string(Name) + " parameters").c_str(), WorstParam);
  noteError((std::string(Name) + " gradient shards").c_str(), WorstGrad);
  CHECK(WorstLoss < 1e-10);
  CHECK(WorstParam < 1e-10);
  CHECK(WorstGrad < 1e-10);
}

void checkSchedules(int32_t Zero) {
  for (const test::ScheduleCase &S : test::AllSchedules) {
    const Program Ref = compileZeroPlan(S.Kind, 2 * S.N, S.V, 1, 0);
    const Program Plan = compileZeroPlan(S.Kind, S.N, S.V, 2, Zero);
    for (Opt Kind : {Opt::Sgd, Opt::Adam}) {
      const std::string Name =
          fmt::format("{} ZeRO-{} {}", S.Name, Zero, Kind == Opt::Sgd ? "SGD" : "AdamW");
      INFO(Name);
      checkZero(Name.c_str(), Plan, Ref, Kind);
    }
  }
}

/// \p P without the edge \p From -> \p To.
void dropEdge(Program &P, TaskId From, TaskId To) {
  auto It = std::find(P.Edges.begin(), P.Edges.end(), std::pair<TaskId, TaskId>{From, To});
  REQUIRE(It != P.Edges.end());
  P.Edges.erase(It);
}

/// The error expandDataParallel (which checks the plan) gives for \p P.
std::string refusal(const Program &P) {
  llvm::Expected<Program> Dp = expandDataParallel(P);
  if (Dp)
    return "";
  return llvm::toString(Dp.takeError());
}

} // namespace

TEST_CASE("interp: ZeRO-1 plans step like the plan without replicas") { checkSchedules(1); }
TEST_CASE("interp: ZeRO-2 plans step like the plan without replicas") { checkSchedules(2); }
TEST_CASE("interp: ZeRO-3 plans step like the plan without replicas") { checkSchedules(3); }

TEST_CASE("interp: ZeRO-3 releases what it does not own; the optimizer sees only its shard") {
  // An optimizer that notes, at its OPTIMIZER_STEP, how many of its stage's
  // parameters are NaN (released) outside and inside its shard.
  struct Probe : Optimizer<double> {
    ParamList<double> Ps;
    std::unique_ptr<Optimizer<double>> Inner;
    int64_t Begin = 0, End = 0, NanOutside = -1, NanInside = -1;
    std::string_view name() const override { return "probe"; }
    bool shard(int64_t B, int64_t E) override {
      Begin = B, End = E;
      return Inner->shard(B, E);
    }
    void step() override {
      NanOutside = nans(Ps, false, 0, Begin) + nans(Ps, false, End, flatSize(Ps));
      NanInside = nans(Ps, false, Begin, End);
      Inner->step();
    }
  };
  for (int32_t Zero : {2, 3}) {
    llvm::Expected<Program> Dp = expandDataParallel(compileZeroPlan(proto::LAYERED, 4, 2, 2, Zero));
    REQUIRE(static_cast<bool>(Dp));
    auto [Models, Replicas] = tinyReplicas(*Dp);
    auto Exec = Executor<double>::create(*Dp, Replicas);
    REQUIRE(static_cast<bool>(Exec));
    std::vector<std::unique_ptr<Probe>> Probes;
    for (int32_t S = 0; S < Dp->numStages(); ++S) {
      const Stage &St = Dp->Stages[S];
      auto &Pr = Probes.emplace_back(std::make_unique<Probe>());
      Pr->Ps = Replicas[St.Pipeline]->params(St.LayerBegin, St.LayerEnd);
      Pr->Inner = createSgd(Pr->Ps, SgdOptions{});
      Exec->setOptimizer(S, Pr.get());
    }
    const std::vector<Batch> B = unevenBatches(tinyConfig(), 8, 3);
    llvm::Expected<StepResult> R = Exec->runStep(B);
    REQUIRE_MESSAGE(static_cast<bool>(R), llvm::toString(R.takeError()));
    CHECK(std::isfinite(R->Loss));
    for (const auto &Pr : Probes) {
      const int64_t Size = flatSize(Pr->Ps);
      CHECK(Pr->End - Pr->Begin == Size / 2 + (Pr->Begin == 0 ? 0 : Size % 2));
      CHECK(Pr->NanInside == 0);
      CHECK(Pr->NanOutside == (Zero == 3 ? Size - (Pr->End - Pr->Begin) : 0));
      CHECK(nans(Pr->Ps, false, 0, Size) == 0); // consolidated after the step
    }
  }
}

TEST_CASE("interp: ZeRO collectives out of order are refused, not run wrongly") {
  // ZeRO-3 1F1B: stage 0's gather no longer before its first forward.
  Program Z3 = compileZeroPlan(proto::ONE_F_ONE_B, 3, 1, 2, 3);
  {
    Program P = Z3;
    const TaskId Gather = test::tasksOf(P, proto::ALL_GATHER, 0).at(0);
    const TaskId First = P.stream(0, proto::COMPUTE).front();
    dropEdge(P, Gather, First);
    const std::string E = refusal(P);
    INFO(E);
    CHECK(E.find("stage 0's all-gather task " + std::to_string(Gather)) != std::string::npos);
    CHECK(E.find("is not ordered before task " + std::to_string(First) + " (F, micro-batch 0") !=
          std::string::npos);
    CHECK(E.find("parameters not gathered") != std::string::npos);
  }
  // Layered ZeRO-3: a stage's second gather no longer after its first run.
  Program L3 = compileZeroPlan(proto::LAYERED, 4, 2, 2, 3);
  {
    Program P = L3;
    const std::vector<TaskId> Gathers = test::tasksOf(P, proto::ALL_GATHER, 0);
    REQUIRE(Gathers.size() == 2);
    for (TaskId Pred : P.predecessors().of(Gathers[1]))
      dropEdge(P, Pred, Gathers[1]);
    // And first on its collective stream, so nothing orders it.
    auto &Stream = P.stream(P.Tasks[Gathers[1]].Device, proto::COLLECTIVE);
    Stream.erase(std::find(Stream.begin(), Stream.end(), Gathers[1]));
    Stream.insert(Stream.begin(), Gathers[1]);
    const std::string E = refusal(P);
    CHECK(E.find("the end of the stage's previous run") != std::string::npos);
  }
  // ZeRO-1: the all-gather no longer after the optimizer step.
  Program Z1 = compileZeroPlan(proto::ONE_F_ONE_B, 3, 1, 2, 1);
  {
    Program P = Z1;
    const TaskId Step = test::tasksOf(P, proto::OPTIMIZER_STEP, 1).at(0);
    const TaskId Gather = test::tasksOf(P, proto::ALL_GATHER, 1).at(0);
    dropEdge(P, Step, Gather);
    CHECK(refusal(P).find("not ordered after its optimizer step") != std::string::npos);
  }
  // ZeRO-2: the reduce-scatter no longer after the last backward.
  {
    Program P = compileZeroPlan(proto::GPIPE, 3, 1, 2, 2);
    const TaskId Scatter = test::tasksOf(P, proto::REDUCE_SCATTER, 0).at(0);
    for (TaskId Pred : P.predecessors().of(Scatter))
      dropEdge(P, Pred, Scatter);
    CHECK(refusal(P).find("it would reduce a partial gradient") != std::string::npos);
  }
  // Interleaved ZeRO-3: two of device 0's gathers swapped on the collective
  // stream. Each is still ordered for its run, but the stream now waits on a
  // gather whose run waits on the other: the walk reports the deadlock.
  {
    Program P = compileZeroPlan(proto::INTERLEAVED, 4, 2, 2, 3);
    auto &Stream = P.stream(0, proto::COLLECTIVE);
    REQUIRE(P.Tasks[Stream[0]].Kind == proto::ALL_GATHER);
    REQUIRE(P.Tasks[Stream[1]].Kind == proto::ALL_GATHER);
    std::swap(Stream[0], Stream[1]);
    llvm::Expected<Program> Dp = expandDataParallel(P);
    REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
    auto [Models, Replicas] = tinyReplicas(*Dp);
    auto Exec = Executor<double>::create(*Dp, Replicas);
    REQUIRE(static_cast<bool>(Exec));
    auto R = Exec->runStep(unevenBatches(tinyConfig(), 8, 1));
    REQUIRE_FALSE(static_cast<bool>(R));
    CHECK(llvm::toString(R.takeError()).find("deadlocks") != std::string::npos);
  }
  // A ZeRO plan's optimizer must be shardable.
  {
    llvm::Expected<Program> Dp = expandDataParallel(Z1);
    REQUIRE(static_cast<bool>(Dp));
    struct Whole : Optimizer<double> {
      std::string_view name() const override { return "whole"; }
      void step() override {}
    } W;
    auto [Models, Replicas] = tinyReplicas(*Dp);
    auto Exec = Executor<double>::create(*Dp, Replicas);
    REQUIRE(static_cast<bool>(Exec));
    Exec->setOptimizer(1, &W);
    auto R = Exec->runStep(unevenBatches(tinyConfig(), 6, 1));
    REQUIRE_FALSE(static_cast<bool>(R));
    CHECK(llvm::toString(R.takeError()).find("stage 1's optimizer (whole) cannot update a shard") !=
          std::string::npos);
  }
}

TEST_CASE("interp: sharded SGD and AdamW equal whole ones on their shards") {
  // Three parameters of 5, 7 and 4 elements split 3 ways at 5 and 11: the
  // shard boundaries fall inside a parameter and at one's end.
  for (bool Adam : {false, true}) {
    std::vector<Param<double>> Whole, Split;
    for (int64_t N : {5, 7, 4}) {
      Whole.emplace_back("p", std::vector<int64_t>{N});
      Whole.back().Value = randomTensor({N}, 10 + N);
    }
    Split = Whole;
    ParamList<double> Pw, Ps;
    for (size_t I = 0; I < Whole.size(); ++I)
      Pw.push_back(&Whole[I]), Ps.push_back(&Split[I]);
    auto Make = [&](ParamList<double> Ps) {
      return Adam ? createAdamW(Ps, AdamOptions{0.1, 0.9, 0.999, 1e-8, 0.01})
                  : createSgd(Ps, SgdOptions{0.1, 0.9, 0.01});
    };
    auto Full = Make(Pw);
    std::vector<std::unique_ptr<Optimizer<double>>> Shards;
    const int64_t Cuts[] = {0, 5, 11, 16};
    for (int K = 0; K < 3; ++K) {
      Shards.push_back(Make(Ps));
      REQUIRE(Shards.back()->shard(Cuts[K], Cuts[K + 1]));
      CHECK(Shards.back()->stateElements() == (Adam ? 2 : 1) * (Cuts[K + 1] - Cuts[K]));
    }
    CHECK(Full->stateElements() == (Adam ? 2 : 1) * 16);
    for (int Step = 0; Step < 3; ++Step) {
      for (size_t I = 0; I < Whole.size(); ++I) {
        Whole[I].Grad = randomTensor(Whole[I].Value.shape(), 100 * Step + I);
        Split[I].Grad = Whole[I].Grad;
      }
      Full->step();
      // The middle shard alone first: it leaves the rest untouched.
      std::vector<Param<double>> Before = Split;
      Shards[1]->step();
      CHECK(relDiff(Ps, ParamList<double>{&Before[0], &Before[1], &Before[2]}, false, 0, 5) == 0);
      CHECK(relDiff(Ps, ParamList<double>{&Before[0], &Before[1], &Before[2]}, false, 11, 16) == 0);
      Shards[0]->step();
      Shards[2]->step();
      CHECK(relDiff(Ps, Pw, false, 0, 16) == 0); // the same arithmetic, bit for bit
    }
  }
}
