//===- CollectiveCostTest.cpp - all-reduce cost: ring or tree --------------===//
//
// CostModel::allReduceMs against the two closed forms it chooses between:
// ring 2(n-1)(latency + bytes/(n bw)), double binary tree
// 2 ceil(log2 n) latency + 2 bytes/bw; large tensors take the ring, small
// ones on many ranks the tree; reduce-scatter and all-gather are half a ring.
//
//===----------------------------------------------------------------------===//
#include "passes/CostModel.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace pfc;

namespace {

// Inter-node: 25 GB/s, 5 us; intra-node: 100 GB/s, 1 us.
Program cluster() {
  Program P;
  P.Model.set_hidden_size(64);
  P.Model.set_num_heads(1);
  P.Model.set_seq_length(8);
  P.Model.set_micro_batch_size(1);
  P.Model.set_num_layers(1);
  P.Cluster.mutable_inter_node()->set_bandwidth_gbps(25);
  P.Cluster.mutable_inter_node()->set_latency_us(5);
  P.Cluster.mutable_intra_node()->set_bandwidth_gbps(100);
  P.Cluster.mutable_intra_node()->set_latency_us(1);
  return P;
}

double ringMs(double Bytes, int N, double Gbps, double Us) {
  return 2.0 * (N - 1) * (Us * 1e-3 + Bytes / N / (Gbps * 1e6));
}
double treeMs(double Bytes, int N, double Gbps, double Us) {
  return 2 * std::ceil(std::log2(N)) * Us * 1e-3 + 2 * Bytes / (Gbps * 1e6);
}

} // namespace

TEST_CASE("all-reduce: ring for large tensors, tree for small ones on many ranks") {
  const CostModel C(cluster());
  // 1 GB on 64 ranks: bandwidth-bound, the ring moves 2(n-1)/n of it.
  const double Big = 1e9;
  CHECK(ringMs(Big, 64, 25, 5) < treeMs(Big, 64, 25, 5));
  CHECK(C.allReduceMs(int64_t(Big), 64, true) == doctest::Approx(ringMs(Big, 64, 25, 5)));
  // 1 MB on 64 ranks: latency-bound, 12 tree latencies against 126 ring ones.
  const double Small = 1e6;
  CHECK(treeMs(Small, 64, 25, 5) < ringMs(Small, 64, 25, 5));
  CHECK(C.allReduceMs(int64_t(Small), 64, true) == doctest::Approx(treeMs(Small, 64, 25, 5)));
  // Two ranks: the ring's 2 steps of half the tensor beat the tree.
  CHECK(C.allReduceMs(int64_t(Small), 2, false) == doctest::Approx(ringMs(Small, 2, 100, 1)));
  CHECK(C.allReduceMs(int64_t(Big), 1, true) == 0);
  // Reduce-scatter and all-gather: half of the ring, never a tree.
  CHECK(C.reduceScatterMs(int64_t(Small), 64, true) ==
        doctest::Approx(ringMs(Small, 64, 25, 5) / 2));
  CHECK(C.allGatherMs(int64_t(Big), 8, false) == doctest::Approx(ringMs(Big, 8, 100, 1) / 2));
}
