//===- KfacExecTest.cpp - K-FAC run through a plan's tasks -----------------===//
//
// Plans compiled with --optimizer kfac by pfc's own passes, run by the
// executor in fp64 with plan-driven K-FAC optimizers per stage: the factors
// its curvature/inversion tasks build equal the one-batch factors, and the
// update with the refreshed inverses equals KfacOptimizer applied directly
// to one batch. The learning rate is 0 until the compared step, so every
// step sees the same parameters and data; decay 0 makes the average the
// last cycle's factors (the first cycle lacks the lagged data of step -1).
//
// KL clip: with κ small enough that ν < 1, the update still equals the
// single-device one only because ν is one scalar over all stages; the same
// run with one ν per stage must miss it by far more than the tolerance.
//
//===----------------------------------------------------------------------===//
#include "PlanTestUtil.h"

#include "backends/interp/Executor.h"

#include "backends/interp/DataParallel.h"
#include "backends/interp/PlanScale.h"
#include "ir/Verifier.h"

#include <doctest/doctest.h>

#include <map>
#include <set>

using namespace pfc;
using namespace pfc::interp;

namespace {

ModelConfig kfacConfig() { return test::tinyConfig(23); }

Program compileKfacPlan(proto::Schedule Schedule, int32_t S, int32_t N) {
  return test::compileTinyPlan(kfacConfig(), Schedule, "", S, N, 1, /*Kfac=*/true);
}

KfacOptions testOptions() {
  KfacOptions O;
  O.Sgd.Lr = 0, O.Sgd.Momentum = 0;
  O.Decay = 0, O.KlClip = 1e9, O.PlanDriven = true;
  return O;
}

double maxRelDiff(const Tensor<double> &X, const Tensor<double> &Y) {
  REQUIRE(X.numel() == Y.numel());
  double Diff = 0, Ref = 0;
  for (int32_t I = 0; I < X.numel(); ++I)
    Diff = std::max(Diff, std::abs(X[I] - Y[I])), Ref = std::max(Ref, std::abs(Y[I]));
  return Diff / Ref;
}

struct KfacRun {
  double FactorDiff = 0;           ///< worst relative difference of A and G
  size_t Compared = 0;             ///< K-FAC layers compared (over all replicas)
  double ParamDiff = 0;            ///< after the compared step, worst over replicas
  double UpdateDiff = 0;           ///< of the updates (parameter changes) there
  double Clip = 0, DirectClip = 0; ///< ν of the stages (the last one's) and of the reference
};

/// Runs \p P for 2k steps at learning rate 0, then one step at 0.05 with KL
/// clip \p Kappa, against KfacOptimizer on one batch holding every micro-batch
/// (its factors from the micro-batches \p CurvatureMbs only, when given).
KfacRun runAgainstDirect(const Program &P, double Kappa, bool AcrossStages,
                         const std::vector<int32_t> &CurvatureMbs = {}, int32_t Warmup = 0) {
  const int32_t K = std::max(1, P.Time.CycleSteps);
  const ModelConfig C = kfacConfig();
  std::vector<std::unique_ptr<Model<double>>> Owned;
  std::vector<Model<double> *> Replicas;
  for (int32_t I = 0; I < test::pipelines(P); ++I)
    Replicas.push_back(Owned.emplace_back(std::make_unique<Model<double>>(C)).get());
  Model<double> Ref(C);
  auto Exec = Executor<double>::create(P, Replicas);
  REQUIRE_MESSAGE(static_cast<bool>(Exec), llvm::toString(Exec.takeError()));
  std::vector<std::unique_ptr<KfacOptimizer<double>>> Opts;
  for (int32_t S = 0; S < P.numStages(); ++S) {
    const Stage &St = P.Stages[S];
    Model<double> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
    Opts.push_back(std::make_unique<KfacOptimizer<double>>(
        M.params(St.LayerBegin, St.LayerEnd),
        M.linears(std::max(1, St.LayerBegin), std::min(St.LayerEnd, C.Layers + 1)), testOptions()));
    Exec->setOptimizer(S, Opts.back().get());
  }
  Exec->setKfacWarmup(Warmup);
  Exec->setKfacClipAcrossStages(AcrossStages);
  const std::vector<Batch> Batches = test::unevenBatches(C, P.Options.microbatches(), 9);
  for (int32_t Step = 0; Step < 2 * K; ++Step) {
    llvm::Expected<StepResult> Ran = Exec->runStep(Batches);
    REQUIRE_MESSAGE(static_cast<bool>(Ran), llvm::toString(Ran.takeError()));
  }

  // The reference: one batch, curvature of all its rows.
  KfacOptions RefOpts = testOptions();
  RefOpts.PlanDriven = false, RefOpts.Sgd.Lr = 0.05, RefOpts.KlClip = Kappa;
  KfacOptimizer<double> Direct(Ref.params(), Ref.linears(1, C.Layers + 1), RefOpts);
  const Batch All = concatBatches(Batches);
  const double Scale = 1.0 / static_cast<double>(All.Tokens.size());
  if (!CurvatureMbs.empty()) { // factors from those, the gradient from all
    std::vector<Batch> Some;
    for (int32_t M : CurvatureMbs)
      Some.push_back(Batches[static_cast<size_t>(M)]);
    const Batch Part = concatBatches(Some);
    const double PartScale = 1.0 / static_cast<double>(Part.Tokens.size());
    Ref.forward(0, Ref.numLayers(), 0, Part, {});
    Ref.backward(0, Ref.numLayers(), 0, {}, PartScale);
    Direct.curvatureAll(PartScale);
    Ref.zeroGrad();
  }
  Ref.forward(0, Ref.numLayers(), 0, All, {});
  Ref.backward(0, Ref.numLayers(), 0, {}, Scale);
  if (CurvatureMbs.empty())
    Direct.curvatureAll(Scale);
  std::map<std::string, KfacFactors<double>> Expected;
  for (size_t I = 0; I < Direct.numLayers(); ++I) {
    KfacFactors<double> F = Direct.factors(I);
    updateAverages(F, 0.0);
    Expected.emplace(Direct.layer(I)->name(), F);
  }
  KfacRun R;
  for (auto &Opt : Opts)
    for (size_t I = 0; I < Opt->numLayers(); ++I) {
      const KfacFactors<double> &F = Opt->factors(I);
      const KfacFactors<double> &E = Expected.at(Opt->layer(I)->name());
      REQUIRE(F.HasAverage);
      R.FactorDiff = std::max({R.FactorDiff, maxRelDiff(F.A, E.A), maxRelDiff(F.G, E.G)});
      ++R.Compared;
    }

  // Step 2k starts a cycle: the inverses refreshed in the last one apply.
  for (auto &Opt : Opts)
    Opt->mutableOptions().Sgd.Lr = 0.05, Opt->mutableOptions().KlClip = Kappa;
  ParamList<double> Pr = Ref.params();
  std::vector<Tensor<double>> Before;
  for (Param<double> *Pm : Pr)
    Before.push_back(Pm->Value);
  REQUIRE(static_cast<bool>(Exec->runStep(Batches)));
  Direct.step();
  for (Model<double> *M : Replicas) {
    ParamList<double> Pp = M->params();
    for (size_t I = 0; I < Pp.size(); ++I) {
      R.ParamDiff = std::max(R.ParamDiff, maxRelDiff(Pp[I]->Value, Pr[I]->Value));
      Tensor<double> Up = Pp[I]->Value, RefUp = Pr[I]->Value;
      addScaled(Up, Before[I], -1.0), addScaled(RefUp, Before[I], -1.0);
      R.UpdateDiff = std::max(R.UpdateDiff, maxRelDiff(Up, RefUp));
    }
  }
  R.Clip = Opts.back()->lastClip(), R.DirectClip = Direct.lastClip();
  return R;
}

} // namespace

TEST_CASE("K-FAC through a 1F1B plan: one-batch factors and KfacOptimizer's update") {
  const Program P = compileKfacPlan(proto::ONE_F_ONE_B, 2, 4);
  int32_t Curvature = 0, Lagged = 0;
  for (const Task &Tk : P.Tasks) {
    Curvature += Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B;
    Lagged += Tk.DataLag > 0;
  }
  REQUIRE(Curvature > 0);
  MESSAGE("refresh cycle k = " << std::max(1, P.Time.CycleSteps) << ", curvature tasks "
                               << Curvature << ", lagged " << Lagged);
  const KfacRun R = runAgainstDirect(P, 1e9, /*AcrossStages=*/true);
  CHECK(R.FactorDiff < 1e-12);
  CHECK(R.Compared == 4 * 6);
  CHECK(R.DirectClip == 1.0);
  CHECK(R.ParamDiff < 1e-12);
}

TEST_CASE("K-FAC with curvature tasks over two blocks: the same factors and update") {
  const Program P = test::compileTinyPlan(kfacConfig(), proto::ONE_F_ONE_B, "", 2, 4, 1,
                                          /*Kfac=*/true, 1, /*CurvatureBlocks=*/2);
  int32_t Grouped = 0, Curvature = 0;
  for (const Task &Tk : P.Tasks)
    if (Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B)
      ++Curvature, Grouped += Tk.LayerCount == 2;
  // 2 stages of 2 blocks, 4 micro-batches, A and B: one task per stage and
  // micro-batch for both blocks.
  CHECK(Curvature == 2 * 4 * 2);
  CHECK(Grouped == Curvature);
  const KfacRun R = runAgainstDirect(P, 1e9, /*AcrossStages=*/true);
  CHECK(R.FactorDiff < 1e-12);
  CHECK(R.Compared == 4 * 6);
  CHECK(R.ParamDiff < 1e-12);
}

TEST_CASE("K-FAC from some of the micro-batches: their factors, every micro-batch's gradient") {
  // N = 4, curvature from 2: micro-batches 0 and 2 (evenly spaced).
  const Program P = test::compileTinyPlan(kfacConfig(), proto::ONE_F_ONE_B, "", 2, 4, 1,
                                          /*Kfac=*/true, 1, 0, /*CurvatureMicrobatches=*/2);
  std::set<int32_t> Used;
  for (const Task &Tk : P.Tasks)
    if (Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B)
      Used.insert(Tk.Microbatch);
  CHECK(Used == std::set<int32_t>{0, 2});
  const KfacRun R = runAgainstDirect(P, 1e9, /*AcrossStages=*/true, {0, 2});
  CHECK(R.FactorDiff < 1e-12);
  CHECK(R.Compared == 4 * 6);
  CHECK(R.ParamDiff < 1e-12);
  // And they differ from the factors of all four (the test can fail).
  const KfacRun Wrong = runAgainstDirect(P, 1e9, /*AcrossStages=*/true);
  CHECK(Wrong.FactorDiff > 1e-3);
}

TEST_CASE("scaling a plan keeps the blocks of grouped curvature tasks that remain") {
  Program P = test::compileTinyPlan(kfacConfig(), proto::ONE_F_ONE_B, "", 2, 4, 1,
                                    /*Kfac=*/true, 1, /*CurvatureBlocks=*/2);
  REQUIRE(!scaleStages(P, 1));
  CHECK(P.Model.num_layers() == 2);
  int32_t Curvature = 0;
  for (const Task &Tk : P.Tasks)
    if (Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B) {
      ++Curvature;
      CHECK(Tk.LayerCount == 1);
      CHECK(Tk.Layer == Tk.Stage + 1); // the one block left in each stage
    }
  CHECK(Curvature == 2 * 4 * 2);
  CHECK(llvm::toString(verifyProgram(P)) == "");
}

TEST_CASE("K-FAC KL clip: one nu over all stages gives the single-device update") {
  const double Kappa = 1e-3;
  for (auto [Name, Schedule, S, V] :
       {std::tuple{std::string("1F1B S=4"), proto::ONE_F_ONE_B, 4, 1},
        std::tuple{std::string("interleaved S=2 V=2"), proto::INTERLEAVED, 2, 2}}) {
    CAPTURE(Name);
    const Program P = test::compileTinyPlan(kfacConfig(), Schedule, "", S, 4, V, /*Kfac=*/true);
    REQUIRE(P.numStages() == 4);
    const KfacRun Global = runAgainstDirect(P, Kappa, /*AcrossStages=*/true);
    const KfacRun PerStage = runAgainstDirect(P, Kappa, /*AcrossStages=*/false);
    MESSAGE(Name << ": nu " << Global.DirectClip << "; update vs one device: one nu "
                 << Global.UpdateDiff << ", nu per stage " << PerStage.UpdateDiff);
    CHECK(Global.Compared == 4 * 6);
    CHECK(Global.FactorDiff < 1e-12);
    CHECK(Global.DirectClip < 0.5); // the clip is active
    CHECK(std::abs(Global.Clip - Global.DirectClip) < 1e-12 * Global.DirectClip);
    CHECK(Global.ParamDiff < 1e-12);
    CHECK(Global.UpdateDiff < 1e-10);
    CHECK(PerStage.UpdateDiff > 1e-3);
  }
}

TEST_CASE("K-FAC through a Chimera plan: both replicas get the one-batch factors and update") {
  // Each pipeline sees half the micro-batches; the factor all-reduce of a
  // block's two copies (one collective, placed at one time on both devices)
  // sums them, as the gradient all-reduce sums the gradients.
  const Program P = compileKfacPlan(proto::CHIMERA, 4, 4);
  REQUIRE(test::pipelines(P) == 2);
  const KfacRun R = runAgainstDirect(P, 1e9, /*AcrossStages=*/true);
  CHECK(R.Compared == 2 * 4 * 6);
  CHECK(R.FactorDiff < 1e-12);
  CHECK(R.ParamDiff < 1e-12);
}

TEST_CASE("K-FAC with replicas and curvature over two blocks: one all-reduce per group") {
  const Program P = test::compileTinyPlan(kfacConfig(), proto::ONE_F_ONE_B, "", 2, 2, 1,
                                          /*Kfac=*/true, /*DataParallel=*/2,
                                          /*CurvatureBlocks=*/2);
  llvm::Expected<Program> Dp = expandDataParallel(P);
  REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
  // 2 stages of 2 blocks on each of 2 replicas: one factor all-reduce per
  // stage copy, over both blocks.
  int32_t Reduces = 0;
  for (const Task &Tk : Dp->Tasks)
    if (Tk.Kind == proto::FACTOR_ALL_REDUCE) {
      ++Reduces;
      CHECK(Tk.LayerCount == 2);
      CHECK(Tk.Layer == 1 + 2 * Dp->Stages[Tk.Stage].Position);
    }
  CHECK(Reduces == 2 * 2);
  const KfacRun R = runAgainstDirect(*Dp, 1e9, /*AcrossStages=*/true);
  CHECK(R.Compared == 2 * 4 * 6);
  CHECK(R.FactorDiff < 1e-12);
  CHECK(R.ParamDiff < 1e-12);
}

TEST_CASE("K-FAC warm-up with copies of a stage: they refresh from their summed factors") {
  // Warm-up steps skip the cycle tasks (FACTOR_ALL_REDUCE among them), so the
  // copies sum their factors after the walk; each alone would precondition
  // the all-reduced gradient with its half of the curvature, and the copies
  // would part.
  const Program Chimera = compileKfacPlan(proto::CHIMERA, 4, 4);
  const Program Plain = test::compileTinyPlan(kfacConfig(), proto::ONE_F_ONE_B, "", 2, 2, 1,
                                              /*Kfac=*/true, /*DataParallel=*/2);
  llvm::Expected<Program> Dp = expandDataParallel(Plain);
  REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
  for (const Program *P : {&Chimera, static_cast<const Program *>(&*Dp)}) {
    CAPTURE(P->Options.schedule());
    const KfacRun R = runAgainstDirect(*P, 1e9, /*AcrossStages=*/true, {}, /*Warmup=*/1000);
    CHECK(R.Compared == 2 * 4 * 6);
    CHECK(R.FactorDiff < 1e-12);
    CHECK(R.ParamDiff < 1e-12);
  }
}

TEST_CASE("K-FAC with two data-parallel replicas: factor all-reduces sum both halves") {
  const Program P = test::compileTinyPlan(kfacConfig(), proto::ONE_F_ONE_B, "", 2, 2, 1,
                                          /*Kfac=*/true, /*DataParallel=*/2);
  llvm::Expected<Program> Dp = expandDataParallel(P);
  REQUIRE_MESSAGE(static_cast<bool>(Dp), llvm::toString(Dp.takeError()));
  const KfacRun R = runAgainstDirect(*Dp, 1e9, /*AcrossStages=*/true);
  CHECK(R.Compared == 2 * 4 * 6);
  CHECK(R.FactorDiff < 1e-12);
  CHECK(R.ParamDiff < 1e-12);
}
