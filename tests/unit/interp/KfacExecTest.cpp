//===- KfacExecTest.cpp - K-FAC run through a plan's tasks -----------------===//
//
// A 1F1B plan compiled with --optimizer kfac by pfc's own passes, run by the
// executor in fp64 with plan-driven K-FAC optimizers per stage: the factors
// its curvature/inversion tasks build equal the one-batch factors, and the
// update with the refreshed inverses equals KfacOptimizer applied directly
// to one batch. The learning rate is 0 until the compared step, so every
// step sees the same parameters and data; decay 0 makes the average the
// last cycle's factors (the first cycle lacks the lagged data of step -1).
//
//===----------------------------------------------------------------------===//
#include "backends/interp/Executor.h"
#include "passes/PassManager.h"

#include <doctest/doctest.h>

#include <map>

using namespace pfc;
using namespace pfc::interp;

namespace {

ModelConfig kfacConfig() {
  ModelConfig C;
  C.Layers = 4, C.Hidden = 8, C.Ffn = 16, C.Heads = 2, C.Seq = 4, C.Vocab = 13;
  C.MicroBatch = 2, C.Seed = 23;
  return C;
}

Program compileKfacPlan(int32_t S, int32_t N) {
  const ModelConfig C = kfacConfig();
  Program P;
  P.Model.set_name("tiny");
  P.Model.set_num_layers(C.Layers), P.Model.set_hidden_size(C.Hidden);
  P.Model.set_ffn_size(C.Ffn), P.Model.set_num_heads(C.Heads);
  P.Model.set_seq_length(C.Seq), P.Model.set_vocab_size(C.Vocab);
  P.Model.set_micro_batch_size(C.MicroBatch), P.Model.set_precision(proto::FP64);
  P.Model.set_linear_layers_per_block(6);
  P.Cluster.set_name("cpu");
  auto *D = P.Cluster.mutable_device();
  D->set_peak_tflops_fp32(1), D->set_peak_tflops_fp16(1), D->set_peak_tflops_fp64(1);
  D->set_memory_gib(16), D->set_memory_bandwidth_gbps(100);
  P.Cluster.set_num_nodes(1), P.Cluster.set_gpus_per_node(8);
  P.Cluster.mutable_intra_node()->set_bandwidth_gbps(10);
  P.Cluster.mutable_inter_node()->set_bandwidth_gbps(10);
  P.Options.set_schedule(proto::ONE_F_ONE_B), P.Options.set_stages(S);
  P.Options.set_microbatches(N), P.Options.set_virtual_stages(1);
  P.Options.set_data_parallel(1), P.Options.set_optimizer(proto::KFAC);
  PassManager PM;
  llvm::Error E = PM.addPipeline(defaultPipeline(P.Options));
  if (!E)
    E = PM.run(P);
  REQUIRE_MESSAGE(!E, llvm::toString(std::move(E)));
  return P;
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
  for (int64_t I = 0; I < X.numel(); ++I)
    Diff = std::max(Diff, std::abs(X[I] - Y[I])), Ref = std::max(Ref, std::abs(Y[I]));
  return Diff / Ref;
}

} // namespace

TEST_CASE("K-FAC through a 1F1B plan: one-batch factors and KfacOptimizer's update") {
  const Program P = compileKfacPlan(2, 4);
  int32_t Curvature = 0, Lagged = 0;
  for (const Task &Tk : P.Tasks) {
    Curvature += Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B;
    Lagged += Tk.DataLag > 0;
  }
  REQUIRE(Curvature > 0);
  const int32_t K = std::max(1, P.Time.CycleSteps);
  MESSAGE("refresh cycle k = " << K << ", curvature tasks " << Curvature << ", lagged "
                               << Lagged);
  const ModelConfig C = kfacConfig();
  Model<double> Pipe(C), Ref(C);
  auto Exec = Executor<double>::create(P, {&Pipe});
  REQUIRE(static_cast<bool>(Exec));
  std::vector<std::unique_ptr<KfacOptimizer<double>>> Opts;
  for (int32_t S = 0; S < P.numStages(); ++S) {
    const Stage &St = P.Stages[S];
    Opts.push_back(std::make_unique<KfacOptimizer<double>>(
        Pipe.params(St.LayerBegin, St.LayerEnd),
        Pipe.linears(std::max(1, St.LayerBegin), std::min(St.LayerEnd, C.Layers + 1)),
        testOptions()));
    Exec->setOptimizer(S, Opts.back().get());
  }
  Exec->setKfacWarmup(0);
  std::vector<Batch> Batches;
  for (int32_t M = 0; M < 4; ++M)
    Batches.push_back(syntheticBatch(C, 9, M, 1 + M % 3));
  for (int32_t Step = 0; Step < 2 * K; ++Step)
    REQUIRE(static_cast<bool>(Exec->runStep(Batches)));

  // The reference: one batch, curvature of all its rows.
  KfacOptions RefOpts = testOptions();
  RefOpts.PlanDriven = false, RefOpts.Sgd.Lr = 0.05;
  KfacOptimizer<double> Direct(Ref.params(), Ref.linears(1, C.Layers + 1), RefOpts);
  const Batch All = concatBatches(Batches);
  const double Scale = 1.0 / static_cast<double>(All.Tokens.size());
  Ref.forward(0, Ref.numLayers(), 0, All, {});
  Ref.backward(0, Ref.numLayers(), 0, {}, Scale);
  Direct.curvatureAll(Scale);
  std::map<std::string, KfacFactors<double>> Expected;
  for (size_t I = 0; I < Direct.numLayers(); ++I) {
    KfacFactors<double> F = Direct.factors(I);
    updateAverages(F, 0.0);
    Expected.emplace(Direct.layer(I)->name(), F);
  }
  size_t Compared = 0;
  for (auto &Opt : Opts)
    for (size_t I = 0; I < Opt->numLayers(); ++I) {
      const KfacFactors<double> &F = Opt->factors(I);
      const KfacFactors<double> &E = Expected.at(Opt->layer(I)->name());
      REQUIRE(F.HasAverage);
      CHECK(maxRelDiff(F.A, E.A) < 1e-12);
      CHECK(maxRelDiff(F.G, E.G) < 1e-12);
      ++Compared;
    }
  CHECK(Compared == Direct.numLayers());

  // Step 2k starts a cycle: the inverses refreshed in the last one apply.
  for (auto &Opt : Opts)
    Opt->mutableOptions().Sgd.Lr = 0.05;
  REQUIRE(static_cast<bool>(Exec->runStep(Batches)));
  Direct.step();
  ParamList<double> Pp = Pipe.params(), Pr = Ref.params();
  double Worst = 0;
  for (size_t I = 0; I < Pp.size(); ++I)
    Worst = std::max(Worst, maxRelDiff(Pp[I]->Value, Pr[I]->Value));
  CHECK(Worst < 1e-12);
}
