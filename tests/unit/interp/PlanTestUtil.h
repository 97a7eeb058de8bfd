//===- PlanTestUtil.h - plans and batches for the executor tests -----------===//
//
// The executor tests of both backends (ExecutorTest, KfacExecTest,
// cuda/CudaExecutorTest) run plans compiled by pfc's own passes for a tiny
// fp64 Transformer on uneven micro-batches.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_TESTS_UNIT_INTERP_PLANTESTUTIL_H
#define PFC_TESTS_UNIT_INTERP_PLANTESTUTIL_H

#include "backends/interp/Model.h"
#include "passes/PassManager.h"

#include <doctest/doctest.h>

namespace pfc::interp::test {

/// 4 blocks, hidden 8, FFN 16, 2 heads, sequences of 4 over 13 tokens, 2
/// sequences per micro-batch; parameters from \p Seed.
inline ModelConfig tinyConfig(uint64_t Seed = 17) {
  ModelConfig C;
  C.Layers = 4, C.Hidden = 8, C.Ffn = 16, C.Heads = 2, C.Seq = 4, C.Vocab = 13;
  C.MicroBatch = 2, C.Seed = Seed;
  return C;
}

/// A program with \p C's model in fp64 on a one-node CPU-like cluster of 8
/// devices, no options yet.
inline Program tinyProgram(const ModelConfig &C) {
  Program P;
  P.Model.set_name("tiny");
  P.Model.set_num_layers(C.Layers), P.Model.set_hidden_size(C.Hidden);
  P.Model.set_ffn_size(C.Ffn), P.Model.set_num_heads(C.Heads);
  P.Model.set_seq_length(C.Seq), P.Model.set_vocab_size(C.Vocab);
  P.Model.set_micro_batch_size(C.MicroBatch), P.Model.set_precision(proto::FP64);
  P.Cluster.set_name("cpu");
  auto *D = P.Cluster.mutable_device();
  D->set_peak_tflops_fp32(1), D->set_peak_tflops_fp16(1), D->set_peak_tflops_fp64(1);
  D->set_memory_gib(16), D->set_memory_bandwidth_gbps(100);
  P.Cluster.set_num_nodes(1), P.Cluster.set_gpus_per_node(8);
  P.Cluster.mutable_intra_node()->set_bandwidth_gbps(10);
  P.Cluster.mutable_inter_node()->set_bandwidth_gbps(10);
  return P;
}

/// Runs \p Pipeline on \p P; the test fails on an error.
inline void runPipeline(Program &P, const std::string &Pipeline) {
  PassManager PM;
  llvm::Error E = PM.addPipeline(Pipeline);
  if (!E)
    E = PM.run(P);
  REQUIRE_MESSAGE(!E, llvm::toString(std::move(E)));
}

/// A plan for \p C in fp64 with \p S stages, \p N micro-batches and \p V
/// virtual stages: \p Pass names the schedule pass (run as
/// "partition,<Pass>,insert-comm,dp-sync,verify"); empty, pfc's default
/// pipeline for the options. \p Kfac: K-FAC (6 linear layers per block).
inline Program compileTinyPlan(const ModelConfig &C, proto::Schedule Schedule,
                               const std::string &Pass, int32_t S, int32_t N, int32_t V = 1,
                               bool Kfac = false, int32_t DataParallel = 1,
                               int32_t CurvatureBlocks = 0, int32_t CurvatureMicrobatches = 0) {
  Program P = tinyProgram(C);
  P.Options.set_schedule(Schedule), P.Options.set_stages(S), P.Options.set_microbatches(N);
  P.Options.set_virtual_stages(V), P.Options.set_data_parallel(DataParallel);
  if (Kfac)
    P.Model.set_linear_layers_per_block(6), P.Options.set_optimizer(proto::KFAC);
  P.Options.mutable_kfac()->set_curvature_blocks(CurvatureBlocks);
  P.Options.mutable_kfac()->set_curvature_microbatches(CurvatureMicrobatches);
  runPipeline(P, Pass.empty() ? defaultPipeline(P.Options)
                               : "partition," + Pass + ",insert-comm,dp-sync,verify");
  return P;
}

/// \p N micro-batches of \p C's data from \p Seed; micro-batch m holds
/// 1 + m % 3 sequences.
inline std::vector<Batch> unevenBatches(const ModelConfig &C, int32_t N, uint64_t Seed) {
  std::vector<Batch> B;
  for (int32_t M = 0; M < N; ++M)
    B.push_back(syntheticBatch(C, Seed, M, 1 + M % 3));
  return B;
}

/// The number of pipelines (model replicas) \p P runs.
inline int32_t pipelines(const Program &P) { return P.numPipelines(); }

/// A plan for \p C on 2 devices per replica, \p D replicas at ZeRO stage
/// \p Zero, through pfc's default pipeline for the options (zero-sync under
/// --zero); with \p Kfac, K-FAC over 6 Linear layers a block, refreshing
/// every step (so that plans with and without ZeRO share k = 1).
inline Program compileReplicatedPlan(const ModelConfig &C, proto::Schedule Schedule, int32_t N,
                                     int32_t V, int32_t D, int32_t Zero, bool Kfac = false) {
  Program P = tinyProgram(C);
  P.Options.set_schedule(Schedule), P.Options.set_stages(2), P.Options.set_microbatches(N);
  P.Options.set_virtual_stages(V), P.Options.set_data_parallel(D), P.Options.set_zero(Zero);
  if (Kfac) {
    P.Model.set_linear_layers_per_block(6), P.Options.set_optimizer(proto::KFAC);
    P.Options.mutable_kfac()->set_max_refresh_steps(1);
  }
  runPipeline(P, defaultPipeline(P.Options));
  return P;
}

/// The ids of \p P's tasks of kind \p Kind on stage \p Stage, ascending.
inline std::vector<TaskId> tasksOf(const Program &P, TaskKind Kind, int32_t Stage) {
  std::vector<TaskId> Out;
  for (TaskId Id = 0; Id < P.numTasks(); ++Id)
    if (P.Tasks[Id].Kind == Kind && P.Tasks[Id].Stage == Stage)
      Out.push_back(Id);
  return Out;
}

/// Every schedule, with micro-batches per replica and virtual stages small
/// enough for a tiny model on 2 stages: the ZeRO tests' sweep.
struct ScheduleCase {
  const char *Name;
  proto::Schedule Kind;
  int32_t N, V; ///< micro-batches per replica, virtual stages
};
inline constexpr ScheduleCase AllSchedules[] = {{"GPipe", proto::GPIPE, 3, 1},
                                                {"1F1B", proto::ONE_F_ONE_B, 3, 1},
                                                {"interleaved V=2", proto::INTERLEAVED, 4, 2},
                                                {"layered V=2", proto::LAYERED, 4, 2},
                                                {"Chimera", proto::CHIMERA, 4, 1}};

} // namespace pfc::interp::test

#endif
