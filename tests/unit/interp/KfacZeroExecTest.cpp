//===- KfacZeroExecTest.cpp - K-FAC plans with ZeRO step like without ------===//
//
// K-FAC plans compiled with --zero 1|2|3 by pfc's own passes (PRECONDITION
// before each stage's reduce-scatter, passes/KfacInsert.cpp), with D = 2
// data-parallel replicas expanded by expandDataParallel, run in fp64 with
// plan-driven K-FAC optimizers sharded per replica, without the KL clip
// (κ = 0) and with it, no warm-up, refreshing every step (cycle k = 1: ZeRO changes the
// bubbles, so the plans' own k can differ). The reference is the
// same K-FAC plan compiled without ZeRO (D = 2) on the same micro-batches:
// losses and every replica's parameters after each step to 1e-12 (the sums
// differ only in order: Σ_r B⁻¹ G_r A⁻¹ against B⁻¹ (Σ_r G_r) A⁻¹), each
// optimizer's momentum the size of its shard. Three steps: the first has no
// inverse yet (K-FAC is SGD), the next two are preconditioned.
//
// So that the comparison can fail: the ZeRO plan run with sharded momentum
// SGD of the same options -- what the sharded K-FAC step does when
// PRECONDITION leaves the gradients as they are -- misses the reference by
// far more; with the clip, ν is below 1 on every preconditioned step, the
// same ν as the reference's, and the run without the clip is far off. And
// the refusals: a plan whose PRECONDITION follows the reduce-scatter (an
// older pfc's), a K-FAC optimizer that is not plan-driven.
//
//===----------------------------------------------------------------------===//
#include "FiniteDiff.h"
#include "PlanTestUtil.h"

#include "backends/interp/DataParallel.h"
#include "backends/interp/Executor.h"
#include "backends/interp/KfacOptimizer.h"

#include <fmt/format.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>

using namespace pfc;
using namespace pfc::interp;
using namespace pfc::interp::test;

namespace {

ModelConfig kfacConfig() { return tinyConfig(23); }

/// A K-FAC plan for kfacConfig() on 2 devices per replica, pfc's default
/// pipeline for the options (zero-sync under --zero), refreshing every step.
Program compileKfacZeroPlan(proto::Schedule Schedule, int32_t N, int32_t V, int32_t D,
                            int32_t Zero) {
  return compileReplicatedPlan(kfacConfig(), Schedule, N, V, D, Zero, /*Kfac=*/true);
}

Program expanded(const Program &P) {
  llvm::Expected<Program> Dp = expandDataParallel(P);
  REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
  return std::move(*Dp);
}

KfacOptions testOptions() {
  KfacOptions O;
  O.Sgd = SgdOptions{0.05, 0.9, 0.01};
  O.Damping = 0.03, O.Decay = 0.5, O.KlClip = 0, O.PlanDriven = true;
  return O;
}

/// A plan's models and per-stage optimizers (K-FAC, or momentum SGD of
/// K-FAC's options), ready to step.
struct Run {
  Program Plan;
  std::vector<std::unique_ptr<Model<double>>> Models;
  std::vector<std::unique_ptr<Optimizer<double>>> Opts;
  std::optional<Executor<double>> Exec;

  Run(Program P, bool Kfac, KfacOptions O = testOptions()) : Plan(std::move(P)) {
    const ModelConfig C = kfacConfig();
    std::vector<Model<double> *> Replicas;
    for (int32_t I = 0; I < Plan.numPipelines(); ++I)
      Replicas.push_back(Models.emplace_back(std::make_unique<Model<double>>(C)).get());
    auto E = Executor<double>::create(Plan, Replicas);
    REQUIRE_MESSAGE(static_cast<bool>(E), llvm::toString(E.takeError()));
    Exec.emplace(std::move(*E));
    for (int32_t S = 0; S < Plan.numStages(); ++S) {
      const Stage &St = Plan.Stages[S];
      Model<double> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
      ParamList<double> Ps = M.params(St.LayerBegin, St.LayerEnd);
      if (Kfac)
        Opts.push_back(std::make_unique<KfacOptimizer<double>>(
            Ps, M.linears(std::max(1, St.LayerBegin), std::min(St.LayerEnd, C.Layers + 1)), O));
      else
        Opts.push_back(createSgd(Ps, O.Sgd));
      Exec->setOptimizer(S, Opts.back().get());
    }
    Exec->setKfacWarmup(0);
  }
  ParamList<double> stageParams(int32_t S) {
    const Stage &St = Plan.Stages[S];
    return Models[static_cast<size_t>(St.Pipeline)]->params(St.LayerBegin, St.LayerEnd);
  }
  int32_t cycle() const { return std::max(1, Plan.Time.CycleSteps); }
};

/// max |x - y| / max |y| over the values of two lists of one layout (NaN
/// anywhere gives NaN).
double relDiff(const ParamList<double> &X, const ParamList<double> &Y) {
  double Diff = 0, Ref = 0;
  for (size_t I = 0; I < X.size(); ++I)
    for (int64_t J = 0; J < X[I]->Value.numel(); ++J) {
      const double D = std::abs(X[I]->Value[J] - Y[I]->Value[J]);
      Diff = D > Diff || std::isnan(D) ? D : Diff;
      Ref = std::max(Ref, std::abs(Y[I]->Value[J]));
    }
  return Diff / Ref;
}

/// Worst loss and parameter differences of \p Z against \p R over
/// \p Steps steps of the same micro-batches (batch seeds from 60 + \p First).
struct Diffs {
  double Loss = 0, Params = 0;
};
Diffs compare(Run &Z, Run &R, int32_t Steps, bool CheckState = false, int32_t First = 0) {
  REQUIRE(Z.Plan.Options.microbatches() == R.Plan.Options.microbatches());
  Diffs D;
  auto Worse = [](double &Worst, double E) { Worst = E > Worst || std::isnan(E) ? E : Worst; };
  for (int32_t Step = 0; Step < Steps; ++Step) {
    const std::vector<Batch> Batches =
        unevenBatches(kfacConfig(), Z.Plan.Options.microbatches(), 60 + First + Step);
    llvm::Expected<StepResult> Rz = Z.Exec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rz), llvm::toString(Rz.takeError()));
    llvm::Expected<StepResult> Rr = R.Exec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Rr), llvm::toString(Rr.takeError()));
    Worse(D.Loss, std::abs(Rz->Loss - Rr->Loss) / Rr->Loss);
    for (int32_t S = 0; S < Z.Plan.numStages(); ++S) {
      const Stage &St = Z.Plan.Stages[S];
      int32_t RefStage = -1;
      for (int32_t Q = 0; Q < R.Plan.numStages(); ++Q)
        if (R.Plan.Stages[Q].LayerBegin == St.LayerBegin &&
            R.Plan.Stages[Q].LayerEnd == St.LayerEnd &&
            (RefStage < 0 || R.Plan.Stages[Q].Pipeline == St.Pipeline))
          RefStage = Q;
      REQUIRE(RefStage >= 0);
      const ParamList<double> Mine = Z.stageParams(S);
      Worse(D.Params, relDiff(Mine, R.stageParams(RefStage)));
      if (CheckState) { // momentum for the shard only (ranks by stage id)
        int32_t Rank = 0, Copies = 0;
        for (int32_t Q = 0; Q < Z.Plan.numStages(); ++Q)
          if (Z.Plan.Stages[Q].LayerBegin == St.LayerBegin &&
              Z.Plan.Stages[Q].LayerEnd == St.LayerEnd)
            ++Copies, Rank += Q < S;
        const int64_t Size = flatSize(Mine);
        const auto [Begin, End] = zeroShard(Size, Rank, Copies);
        CHECK(Copies >= 2);
        CHECK(Z.Opts[S]->stateElements() == End - Begin);
        CHECK(R.Opts[RefStage]->stateElements() == Size);
      }
    }
  }
  return D;
}

/// Calls \p Body(Name, Plan, Ref) for every schedule at ZeRO 1, 2 and 3:
/// the expanded D = 2 K-FAC plan with ZeRO and the same plan without.
template <typename Fn> void forEachZeroPlan(const char *Suffix, Fn &&Body) {
  for (const test::ScheduleCase &Sch : test::AllSchedules) {
    const Program Ref = expanded(compileKfacZeroPlan(Sch.Kind, Sch.N, Sch.V, 2, 0));
    for (int32_t Zero : {1, 2, 3}) {
      const std::string Name = fmt::format("K-FAC {} ZeRO-{}{}", Sch.Name, Zero, Suffix);
      INFO(Name);
      Body(Name, expanded(compileKfacZeroPlan(Sch.Kind, Sch.N, Sch.V, 2, Zero)), Ref);
    }
  }
}

} // namespace

TEST_CASE("interp: K-FAC plans with ZeRO 1/2/3 step like the plan without ZeRO (no KL clip)") {
  forEachZeroPlan("", [](const std::string &Name, const Program &Plan, const Program &Ref) {
    Run Z(Plan, true), R(Ref, true);
    REQUIRE(Z.cycle() == 1);
    REQUIRE(R.cycle() == 1);
    const int32_t Steps = 3;
    const Diffs D = compare(Z, R, Steps, /*CheckState=*/true);
    noteError((Name + " loss").c_str(), D.Loss);
    noteError((Name + " parameters").c_str(), D.Params);
    CHECK(D.Loss < 1e-12);
    CHECK(D.Params < 1e-12);
    // The optimizers did precondition: the stages' K-FAC layers have
    // inverses, and the update without them is far off.
    for (const auto &O : Z.Opts) {
      const auto *K = dynamic_cast<const KfacOptimizer<double> *>(O.get());
      REQUIRE(K);
      CHECK(K->sharded());
      for (size_t I = 0; I < K->numLayers(); ++I)
        CHECK(K->factors(I).HasInverse);
    }
    Run Skipped(Plan, false), R2(Ref, true);
    const Diffs Off = compare(Skipped, R2, Steps);
    noteError((Name + " parameters, PRECONDITION skipped").c_str(), Off.Params);
    CHECK(Off.Params > 1e-4);
  });
}

TEST_CASE("interp: K-FAC plans with ZeRO 1/2/3 and the KL clip step like the plan without ZeRO") {
  KfacOptions Clip = testOptions();
  Clip.KlClip = 1e-3; // ν ≈ 0.28 here: the clip binds on every preconditioned step
  forEachZeroPlan(" with the KL clip",
                  [&](const std::string &Name, const Program &Plan, const Program &Ref) {
                    Run Z(Plan, true, Clip), R(Ref, true, Clip);
                    REQUIRE(Z.cycle() == 1);
                    double MaxNu = 0, NuDiff = 0, Loss = 0, Params = 0;
                    for (int32_t Step = 0; Step < 3; ++Step) {
                      const Diffs D = compare(Z, R, 1, /*CheckState=*/true, Step);
                      Loss = std::max(Loss, D.Loss), Params = std::max(Params, D.Params);
                      CHECK(D.Loss < 1e-12);
                      CHECK(D.Params < 1e-12);
                      if (Step == 0)
                        continue; // no inverse yet: ν = 1
                      for (int32_t S = 0; S < Plan.numStages(); ++S) {
                        const auto &K = dynamic_cast<const KfacOptimizer<double> &>(*Z.Opts[S]);
                        const auto &KR = dynamic_cast<const KfacOptimizer<double> &>(*R.Opts[0]);
                        MaxNu = std::max(MaxNu, K.lastClip());
                        NuDiff = std::max(NuDiff, std::abs(K.lastClip() - KR.lastClip()));
                      }
                    }
                    noteError((Name + " loss").c_str(), Loss);
                    noteError((Name + " parameters").c_str(), Params);
                    noteError((Name + " nu").c_str(), NuDiff);
                    CHECK(MaxNu < 0.5);
                    CHECK(NuDiff < 1e-12);
                    // Without the clip the same steps go elsewhere.
                    Run Unclipped(Plan, true), R2(Ref, true, Clip);
                    CHECK(compare(Unclipped, R2, 3).Params > 1e-4);
                  });
}

TEST_CASE("interp: a K-FAC ZeRO-2 plan at D = 2 steps like the D = 1 plan") {
  const Program Ref = compileKfacZeroPlan(proto::ONE_F_ONE_B, 6, 1, 1, 0);
  const Program Plan = expanded(compileKfacZeroPlan(proto::ONE_F_ONE_B, 3, 1, 2, 2));
  Run Z(Plan, true), R(Ref, true);
  REQUIRE(Z.cycle() == 1);
  REQUIRE(R.cycle() == 1);
  const Diffs D = compare(Z, R, 3);
  noteError("K-FAC 1F1B ZeRO-2 D=2 vs D=1 loss", D.Loss);
  noteError("K-FAC 1F1B ZeRO-2 D=2 vs D=1 parameters", D.Params);
  CHECK(D.Loss < 1e-12);
  CHECK(D.Params < 1e-12);
}

TEST_CASE("interp: K-FAC with ZeRO refuses a late PRECONDITION, unsharded K-FAC") {
  const Program Plan = expanded(compileKfacZeroPlan(proto::ONE_F_ONE_B, 3, 1, 2, 2));
  const std::vector<Batch> Batches = unevenBatches(kfacConfig(), 6, 1);
  {
    // Not plan-driven: it would precondition the reduce-scattered shard.
    KfacOptions O = testOptions();
    O.PlanDriven = false;
    Run Z(Plan, true, O);
    CHECK_FALSE(Z.Opts[0]->shard(0, 10));
    llvm::Expected<StepResult> R = Z.Exec->runStep(Batches);
    REQUIRE_FALSE(static_cast<bool>(R));
    CHECK(llvm::toString(R.takeError()).find("stage 0's optimizer (kfac) cannot update a shard") !=
          std::string::npos);
  }
  {
    // Stage 1's PRECONDITION moved after its reduce-scatter (as an older pfc
    // placed it): each replica would precondition only its shard.
    Program P = compileKfacZeroPlan(proto::ONE_F_ONE_B, 3, 1, 2, 2);
    const TaskId Pre = test::tasksOf(P, proto::PRECONDITION, 1).at(0);
    const TaskId Scatter = test::tasksOf(P, proto::REDUCE_SCATTER, 1).at(0);
    const TaskId Step = test::tasksOf(P, proto::OPTIMIZER_STEP, 1).at(0);
    auto &Stream = P.stream(P.Tasks[Pre].Device, proto::COMPUTE);
    auto At = std::find(Stream.begin(), Stream.end(), Pre);
    REQUIRE(At != Stream.begin());
    const TaskId LastBackward = *(At - 1);
    REQUIRE(P.Tasks[LastBackward].Kind == proto::BACKWARD);
    REQUIRE(std::erase(P.Edges, std::pair<TaskId, TaskId>{Pre, Scatter}) == 1);
    P.Edges.emplace_back(LastBackward, Scatter);
    P.Edges.emplace_back(Scatter, Pre);
    P.Edges.emplace_back(Pre, Step);
    // In the compute stream, right before the optimizer step.
    Stream.erase(At);
    Stream.insert(std::find(Stream.begin(), Stream.end(), Step), Pre);
    llvm::Expected<Program> Dp = expandDataParallel(P);
    REQUIRE_FALSE(static_cast<bool>(Dp));
    const std::string E = llvm::toString(Dp.takeError());
    INFO(E);
    CHECK(E.find(fmt::format("stage 1's PRECONDITION, task {}", Pre)) != std::string::npos);
    CHECK(E.find(fmt::format("is not ordered before its reduce-scatter, task {}", Scatter)) !=
          std::string::npos);
  }
}
