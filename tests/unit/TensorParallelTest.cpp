//===- TensorParallelTest.cpp - tensor parallelism and recomputation -------===//
//
// The cost model under --tensor-parallel T and --recompute against hand
// computations: a block's compute and parameters divided by T, two ring
// all-reduces of the s b h activation per forward and per backward, the
// activation bytes of Korthikanti et al. 2022 (Table 2) for each
// recomputation mode with and without sequence parallelism, the recomputed forward charged to the backward; the
// memory pass's peak with them; node placement of T-GPU devices; and the
// user errors of the partition pass.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "passes/CostModel.h"

#include <doctest/doctest.h>

using namespace pfc;
using namespace pfc::test;

namespace {

// h = 1024, ffn 4096, 16 heads, seq 512, micro-batch 4, fp16, 8 blocks;
// 100 TFLOP/s at efficiency 1; intra-node links 100 GB/s, no latency.
constexpr double H = 1024, F = 4096, A = 16, S = 512, B = 4, Vocab = 32000;
constexpr double Sbh = S * B * H;

Program model(int32_t T, proto::Recompute R, int32_t Stages = 4) {
  Program P;
  proto::Model &M = P.Model;
  M.set_name("tp-test");
  M.set_num_layers(8);
  M.set_hidden_size(static_cast<int32_t>(H));
  M.set_ffn_size(static_cast<int32_t>(F));
  M.set_num_heads(static_cast<int32_t>(A));
  M.set_seq_length(static_cast<int32_t>(S));
  M.set_micro_batch_size(static_cast<int32_t>(B));
  M.set_vocab_size(static_cast<int32_t>(Vocab));
  M.set_precision(proto::FP16);
  proto::Cluster &C = P.Cluster;
  C.set_name("tp-cluster");
  C.set_num_nodes(4);
  C.set_gpus_per_node(8);
  C.mutable_device()->set_peak_tflops_fp16(100);
  C.mutable_device()->set_compute_efficiency(1);
  C.mutable_device()->set_memory_gib(1024);
  C.mutable_device()->set_memory_bandwidth_gbps(1000);
  C.mutable_intra_node()->set_bandwidth_gbps(100);
  C.mutable_inter_node()->set_bandwidth_gbps(10);
  P.Options.set_schedule(proto::ONE_F_ONE_B);
  P.Options.set_stages(Stages);
  P.Options.set_microbatches(8);
  P.Options.set_virtual_stages(1);
  P.Options.set_data_parallel(1);
  P.Options.set_tensor_parallel(T);
  P.Options.set_recompute(R);
  return P;
}

/// Forward GEMM and attention FLOPs of one block and micro-batch.
constexpr double FwdFlops = S * B * (2 * (4 * H * H + 2 * H * F) + 4 * S * H);
constexpr double msOf(double Flops) { return Flops / 100e12 * 1e3; }
/// Ring all-reduce of the fp16 activation among T GPUs at 100 GB/s.
double allReduceMs(int32_t T) {
  return T == 1 ? 0 : 2.0 * (T - 1) * (Sbh * 2 / T) / (100 * 1e6);
}

} // namespace

TEST_CASE("tensor parallelism: block compute and parameters / T, two all-reduces each way") {
  const CostModel One(model(1, proto::RECOMPUTE_NONE));
  CHECK(One.layer(1).ForwardMs == doctest::Approx(msOf(FwdFlops)));
  for (int32_t T : {2, 4, 8}) {
    CAPTURE(T);
    const CostModel C(model(T, proto::RECOMPUTE_NONE));
    const LayerCost &L = C.layer(1);
    CHECK(L.ForwardMs == doctest::Approx(msOf(FwdFlops) / T + 2 * allReduceMs(T)));
    CHECK(L.BackwardMs == doctest::Approx(2 * msOf(FwdFlops) / T + 2 * allReduceMs(T)));
    // Column-parallel QKV and fc1 (with their biases), row-parallel output
    // projection and fc2 split; LayerNorms and row-parallel biases replicated.
    CHECK(L.ParamCount == int64_t((4 * H * H + 2 * H * F + 3 * H + F) / T + 6 * H));
    CHECK(L.OutputBytes == int64_t(Sbh * 2 / T));
    // Vocabulary-parallel embedding; positions replicated.
    CHECK(C.layer(0).ParamCount == int64_t(Vocab * H / T + S * H));
    CHECK(C.tensorParallel() == T);
  }
}

TEST_CASE("recomputation: activation bytes of Korthikanti et al. 2022, Table 2") {
  const double Attn = 5 * A * S / H; // 80
  struct Case {
    int32_t T;
    bool Sp; // sequence parallelism
    proto::Recompute R;
    double Units; // of s b h bytes at 16-bit
  } Cases[] = {
      {1, false, proto::RECOMPUTE_NONE, 34 + Attn},
      {4, false, proto::RECOMPUTE_NONE, 10 + 24.0 / 4 + Attn / 4},
      {4, true, proto::RECOMPUTE_NONE, 34.0 / 4 + Attn / 4},
      {1, false, proto::RECOMPUTE_SELECTIVE, 34},
      {4, false, proto::RECOMPUTE_SELECTIVE, 10 + 24.0 / 4},
      {4, true, proto::RECOMPUTE_SELECTIVE, 34.0 / 4},
      {1, false, proto::RECOMPUTE_FULL, 2},
      {8, false, proto::RECOMPUTE_FULL, 2},
      {8, true, proto::RECOMPUTE_FULL, 2.0 / 8},
      {1, true, proto::RECOMPUTE_NONE, 34 + Attn}, // nothing to shard at T = 1
  };
  for (const Case &K : Cases) {
    CAPTURE(K.T);
    CAPTURE(K.Sp);
    CAPTURE(recomputeName(K.R));
    Program P = model(K.T, K.R);
    P.Options.set_sequence_parallel(K.Sp);
    const CostModel C(P);
    CHECK(C.layer(1).ActivationBytes == int64_t(Sbh * K.Units));
    // While a block recomputes, what was dropped is alive again.
    const double All = (K.Sp && K.T > 1 ? 10.0 / K.T : 10) + 24.0 / K.T + Attn / K.T;
    CHECK(C.recomputeWorkingBytes() == doctest::Approx(Sbh * (All - K.Units)).epsilon(1e-12));
  }
}

TEST_CASE("recomputation: the backward reruns the forward (full) or the attention core") {
  for (int32_t T : {1, 4}) {
    CAPTURE(T);
    const LayerCost None = CostModel(model(T, proto::RECOMPUTE_NONE)).layer(1);
    const LayerCost Sel = CostModel(model(T, proto::RECOMPUTE_SELECTIVE)).layer(1);
    const LayerCost Full = CostModel(model(T, proto::RECOMPUTE_FULL)).layer(1);
    CHECK(Sel.ForwardMs == doctest::Approx(None.ForwardMs));
    CHECK(Full.ForwardMs == doctest::Approx(None.ForwardMs));
    CHECK(Sel.BackwardMs == doctest::Approx(None.BackwardMs + msOf(S * B * 4 * S * H) / T));
    // Full recomputation reruns the forward with its all-reduces.
    CHECK(Full.BackwardMs == doctest::Approx(None.BackwardMs + None.ForwardMs));
  }
}

TEST_CASE("tensor parallelism: memory peak per GPU and node placement") {
  // 1F1B, 4 stages of 2 blocks, 8 micro-batches, T = 4, selective: device 0
  // holds the embedding and 2 blocks, 4 micro-batches in flight.
  Program P = model(4, proto::RECOMPUTE_SELECTIVE);
  runPasses(P, "partition,schedule-1f1b,insert-comm,dp-sync,simulate,memory,verify");
  const CostModel C(P);
  const int64_t Act = int64_t(Sbh * (10 + 24.0 / 4));
  CHECK(C.layer(1).ActivationBytes == Act);
  const Stage &S0 = P.Stages[0];
  CHECK(S0.ActivationBytes == C.layer(0).ActivationBytes + 2 * Act);
  CHECK(P.Stats[0].PeakInflight == 4);
  CHECK(P.Stats[0].PeakMemory ==
        P.Stats[0].StaticMemory + 4 * S0.ActivationBytes + C.recomputeWorkingBytes());
  // Parameters per GPU: a quarter of each block (plus replicated parts).
  CHECK(P.Stats[1].StaticMemory == 2 * C.layer(1).ParamCount * C.staticBytesPerParam());
  // 8 GPUs per node hold two 4-GPU plan devices.
  CHECK(P.Devices[0].Node == 0);
  CHECK(P.Devices[1].Node == 0);
  CHECK(P.Devices[2].Node == 1);
  CHECK(P.Devices[3].Node == 1);
}

TEST_CASE("tensor parallelism: user errors of the partition pass") {
  Program Odd = model(3, proto::RECOMPUTE_NONE);
  CHECK(pipelineError(Odd, "partition") ==
        "pfc: error: --tensor-parallel 3 must divide the 8 GPUs of a node of cluster "
        "'tp-cluster' (a tensor-parallel group stays inside one node)");
  Program Big = model(8, proto::RECOMPUTE_NONE, 8);
  CHECK(pipelineError(Big, "partition") ==
        "pfc: error: --stages 8 x --data-parallel 1 x --tensor-parallel 8 needs 64 devices, "
        "the cluster 'tp-cluster' has 32 (4 nodes x 8 GPUs)");
  Program Kfac = model(2, proto::RECOMPUTE_NONE);
  Kfac.Options.set_optimizer(proto::KFAC);
  CHECK(pipelineError(Kfac, "partition") ==
        "pfc: error: --optimizer kfac with --tensor-parallel 2 is not supported (K-FAC "
        "factors of sharded layers); use --tensor-parallel 1");
}
