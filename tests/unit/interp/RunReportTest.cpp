//===- RunReportTest.cpp - what pfc-run measures for the cost model --------===//
//
// measureBlockTimes against closed forms on a compiled 1F1B plan with made-up
// task times: stage times are split between embedding, blocks and head in
// the proportions of the layers timed alone, scaled by the measured/alone
// ratio; the optimizer's time per parameter scales to a block. The cluster
// text written by --cluster-out parses as a Cluster with the given rates.
//
//===----------------------------------------------------------------------===//
#include "backends/interp/CpuCluster.h"
#include "backends/interp/RunReport.h"
#include "passes/PassManager.h"

#include "cluster.pb.h"

#include <google/protobuf/text_format.h>

#include <doctest/doctest.h>

using namespace pfc;
using namespace pfc::interp;

namespace {

/// 1F1B, 2 stages, 2 micro-batches of a 4-block model: stage 0 runs layers
/// [0, 3) (embedding + 2 blocks), stage 1 layers [3, 6) (2 blocks + head).
Program plan() {
  Program P;
  P.Model.set_name("tiny");
  P.Model.set_num_layers(4), P.Model.set_hidden_size(8), P.Model.set_ffn_size(16);
  P.Model.set_num_heads(2), P.Model.set_seq_length(4), P.Model.set_vocab_size(13);
  P.Model.set_micro_batch_size(2), P.Model.set_precision(proto::FP32);
  P.Cluster.set_name("cpu");
  auto *D = P.Cluster.mutable_device();
  D->set_peak_tflops_fp32(1), D->set_peak_tflops_fp16(1), D->set_memory_gib(16);
  D->set_memory_bandwidth_gbps(100);
  P.Cluster.set_num_nodes(1), P.Cluster.set_gpus_per_node(2);
  P.Cluster.mutable_intra_node()->set_bandwidth_gbps(10);
  P.Options.set_schedule(proto::ONE_F_ONE_B), P.Options.set_stages(2);
  P.Options.set_microbatches(2), P.Options.set_virtual_stages(1);
  P.Options.set_data_parallel(1);
  PassManager PM;
  llvm::Error E = PM.addPipeline("partition,schedule-1f1b,insert-comm,dp-sync,verify");
  if (!E)
    E = PM.run(P);
  REQUIRE_MESSAGE(!E, llvm::toString(std::move(E)));
  return P;
}

} // namespace

TEST_CASE("measureBlockTimes splits stage times by the layers' times alone") {
  const Program P = plan();
  REQUIRE(P.Stages.size() == 2);
  REQUIRE(P.Stages[0].LayerBegin == 0);
  REQUIRE(P.Stages[0].LayerEnd == 3);
  LayerTimes Alone;
  Alone.Forward = {1, 2, 2, 2, 2, 3};  // stage sums 5 and 7
  Alone.Backward = {1, 4, 4, 4, 4, 5}; // stage sums 9 and 13
  const std::vector<int64_t> StageParams = {100, 300};
  // Two steps: forwards at 1x and 2x their alone sums (mean 1.5x), backwards
  // at 2x; optimizer 1 ms per 100 parameters; sends and receives 1 µs.
  std::vector<std::vector<double>> TaskMs(2, std::vector<double>(P.Tasks.size(), -1));
  for (size_t Step = 0; Step < 2; ++Step)
    for (size_t I = 0; I < P.Tasks.size(); ++I) {
      const Task &Tk = P.Tasks[I];
      const double FSum = Tk.Stage == 0 ? 5 : 7, BSum = Tk.Stage == 0 ? 9 : 13;
      switch (Tk.Kind) {
      case proto::FORWARD: TaskMs[Step][I] = FSum * (Step + 1.0); break;
      case proto::BACKWARD: TaskMs[Step][I] = BSum * 2; break;
      case proto::OPTIMIZER_STEP: TaskMs[Step][I] = StageParams[Tk.Stage] / 100.0; break;
      default: TaskMs[Step][I] = 0.001; break;
      }
    }
  const BlockTimes T = measureBlockTimes(P, TaskMs, Alone, StageParams, 50);
  CHECK(T.Forward == doctest::Approx(3));       // 2 x 1.5
  CHECK(T.Backward == doctest::Approx(8));      // 4 x 2
  CHECK(T.EmbedForward == doctest::Approx(1.5));
  CHECK(T.EmbedBackward == doctest::Approx(2));
  CHECK(T.HeadForward == doctest::Approx(4.5));
  CHECK(T.HeadBackward == doctest::Approx(10));
  CHECK(T.Optimizer == doctest::Approx(0.5));   // 0.01 ms per parameter x 50
  CHECK(T.Kron == 0);
  CHECK(T.Inv == 0);
  CHECK(T.Prec == 0);

  const std::string Table = taskKindTable(P, TaskMs);
  // F: 4 tasks per step; measured (5 + 7) x 2 micro-batches x mean 1.5 = 36.
  CHECK(Table.find("\nF" + std::string(20, ' ') + "4.0") != std::string::npos);
  CHECK(Table.find("36.000") != std::string::npos);
}

TEST_CASE("measureBlockTimes: under ZeRO an optimizer step updates its shard") {
  // The same stages held twice (two copies each, as a D = 2 plan expanded
  // for pfc-run): each copy's step updates half its stage's parameters, so
  // 1 ms per step is 1 ms per 50 (resp. 150) parameters, not per 100 (300).
  Program P = plan();
  P.Stages.push_back(P.Stages[0]);
  P.Stages.push_back(P.Stages[1]);
  P.Options.set_zero(1);
  const std::vector<int64_t> StageParams = {100, 300, 100, 300};
  std::vector<std::vector<double>> TaskMs(1, std::vector<double>(P.Tasks.size(), -1));
  for (size_t I = 0; I < P.Tasks.size(); ++I)
    if (P.Tasks[I].Kind == proto::OPTIMIZER_STEP)
      TaskMs[0][I] = P.Tasks[I].Stage == 0 ? 0.5 : 1.5;
  LayerTimes Alone;
  Alone.Forward = Alone.Backward = {1, 1, 1, 1, 1, 1};
  CHECK(measureBlockTimes(P, TaskMs, Alone, StageParams, 50).Optimizer ==
        doctest::Approx(0.5)); // 2 ms / 200 parameters x 50
  P.Options.set_zero(0);       // whole stages: half the time per parameter
  CHECK(measureBlockTimes(P, TaskMs, Alone, StageParams, 50).Optimizer == doctest::Approx(0.25));
}

TEST_CASE("the profile row has PipeFisher's columns, then pfc's") {
  ModelConfig C;
  C.Hidden = 8, C.Ffn = 16, C.Heads = 2, C.Seq = 4, C.MicroBatch = 2;
  BlockTimes T;
  T.Forward = 1, T.Backward = 2, T.EmbedForward = 0.25, T.HeadBackward = 4, T.Optimizer = 0.5;
  const std::string Csv = profileCsv(T, C, 4);
  CHECK(Csv.rfind("bs,time_f,time_b,time_kron,time_inv,time_prec,mem_param,mem_act,"
                  "mem_peak_err,mem_save_err,mem_kron,time_f_embed,time_b_embed,time_f_head,"
                  "time_b_head,time_opt\n2,1.000000,2.000000,0.000000,0.000000,0.000000,",
                  0) == 0);
  CHECK(Csv.find(",0.250000,0.000000,0.000000,4.000000,0.500000\n") != std::string::npos);
  // 4 h^2 + 2 h ffn + 9 h + ffn parameters, as passes/CostModel counts them.
  CHECK(blockParams(C) == 4 * 64 + 2 * 8 * 16 + 9 * 8 + 16);
}

TEST_CASE("the CPU cluster text parses and carries the measured rates") {
  CpuRates R;
  R.GflopsFp32 = 80, R.GflopsFp64 = 40, R.CopyGBps = 12.5, R.HandOffUs = 7.25;
  R.MemoryGib = 32, R.Cores = 2;
  proto::Cluster C;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(cpuClusterTextproto(R, 4), &C));
  CHECK(C.name() == "cpu-interpreter");
  CHECK(C.device().peak_tflops_fp32() == doctest::Approx(0.08));
  CHECK(C.device().peak_tflops_fp64() == doctest::Approx(0.04));
  CHECK(C.device().compute_efficiency() == 1);
  CHECK(C.num_nodes() == 1);
  CHECK(C.gpus_per_node() == 4); // more plan devices than cores
  CHECK(C.device().memory_gib() == doctest::Approx(8));
  CHECK(C.intra_node().bandwidth_gbps() == doctest::Approx(12.5));
  CHECK(C.intra_node().latency_us() == doctest::Approx(7.25));
  proto::Cluster Two;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(cpuClusterTextproto(R, 1), &Two));
  CHECK(Two.gpus_per_node() == 2);
}
