//===- CostModel.cpp - durations and sizes of the work ---------------------===//
#include "CostModel.h"

#include <algorithm>
#include <cmath>

namespace pfc {

namespace {

constexpr double MiB = 1024.0 * 1024.0;

int64_t bytesOf(proto::Precision P) {
  switch (P) {
  case proto::FP32: return 4;
  case proto::FP64: return 8;
  default: return 2;
  }
}

double peakFlops(const proto::DeviceSpec &D, proto::Precision P) {
  double Tflops;
  switch (P) {
  case proto::FP32: Tflops = D.peak_tflops_fp32(); break;
  case proto::FP64: Tflops = D.peak_tflops_fp64(); break;
  default: Tflops = D.peak_tflops_fp16(); break;
  }
  double Eff = D.compute_efficiency() > 0 ? D.compute_efficiency() : 0.5;
  return Tflops * 1e12 * Eff;
}

double linkMs(const proto::LinkSpec &L, double Bytes) {
  return L.latency_us() * 1e-3 + (L.bandwidth_gbps() > 0 ? Bytes / (L.bandwidth_gbps() * 1e6) : 0);
}

} // namespace

CostModel::CostModel(const Program &P) {
  const proto::Model &M = P.Model;
  const proto::DeviceSpec &D = P.Cluster.device();
  ElemBytes = bytesOf(M.precision());
  MemBandwidthGBps = D.memory_bandwidth_gbps();
  Intra = P.Cluster.intra_node();
  Inter = P.Cluster.inter_node();
  TensorParallel = std::max(1, P.Options.tensor_parallel());
  const double T = TensorParallel;
  const proto::Recompute Recompute = P.Options.recompute();

  const double H = M.hidden_size(), F = M.ffn_size() > 0 ? M.ffn_size() : 4.0 * H;
  const double S = M.seq_length(), B = M.micro_batch_size(), A = M.num_heads();
  const double Vocab = M.vocab_size(), Tokens = S * B;
  const double Flops = peakFlops(D, M.precision());
  auto Ms = [&](double FlopCount) { return Flops > 0 ? FlopCount / Flops * 1e3 : 0; };
  const int64_t Out = static_cast<int64_t>(Tokens * H) * ElemBytes;
  // Two all-reduces of the activation among the T GPUs of a group.
  const double TpCommMs = 2 * allReduceMs(Out, TensorParallel, /*CrossNode=*/false);

  // Embedding: a gather, memory bound; its parameters are vocab x h + positions.
  LayerCost Emb;
  Emb.ParamCount = static_cast<int64_t>(Vocab * H / T + S * H);
  Emb.ForwardMs = MemBandwidthGBps > 0 ? Out / (MemBandwidthGBps * 1e6) : 0;
  Emb.BackwardMs = 2 * Emb.ForwardMs;
  Emb.ActivationBytes = static_cast<int64_t>(Tokens) * 8; // token ids
  Emb.OutputBytes = static_cast<int64_t>(Out / T);
  Layers.push_back(Emb);

  // Block: QKV + output projection (4 h^2), MLP (2 h F), attention scores and
  // weighted sum (2 s h per token each). Column-parallel QKV and first MLP
  // layer split their biases; LayerNorms and the two row-parallel biases
  // (4h + 2h) are replicated.
  LayerCost Blk;
  Blk.ParamCount = static_cast<int64_t>((4 * H * H + 2 * H * F + 3 * H + F) / T + 6 * H);
  const double FwdFlops = Tokens * (2 * (4 * H * H + 2 * H * F) + 4 * S * H);
  const double AttnCoreFlops = Tokens * 4 * S * H;
  double FwdMs = Ms(FwdFlops) / T, BwdMs = 2 * Ms(FwdFlops) / T;
  // Saved activations (Korthikanti et al. 2022) in units of s b h bytes at
  // 16-bit; AllUnits is what a block keeps without recomputation.
  // With sequence parallelism the 10 s b h of LayerNorm/dropout inputs and
  // the block input are sharded too.
  const bool Sp = P.Options.sequence_parallel() && TensorParallel > 1;
  const double Replicated = Sp ? 10 / T : 10;
  const double AllUnits = Replicated + 24 / T + 5 * A * S / (H * T);
  const double Units = Recompute == proto::RECOMPUTE_FULL        ? (Sp ? 2 / T : 2)
                       : Recompute == proto::RECOMPUTE_SELECTIVE ? Replicated + 24 / T
                                                                 : AllUnits;
  double ActScale = Units / (34 + 5 * A * S / H); // against T = 1, none
  if (P.Options.has_profile()) {
    const proto::BlockProfile &Prof = P.Options.profile();
    FwdMs = Prof.forward_ms() / T;
    BwdMs = Prof.backward_ms() / T;
  }
  Blk.ForwardMs = FwdMs + TpCommMs;
  Blk.BackwardMs = BwdMs + TpCommMs;
  if (Recompute == proto::RECOMPUTE_FULL)
    Blk.BackwardMs += Blk.ForwardMs;
  else if (Recompute == proto::RECOMPUTE_SELECTIVE)
    Blk.BackwardMs += P.Options.has_profile() ? FwdMs * AttnCoreFlops / FwdFlops
                                              : Ms(AttnCoreFlops) / T;
  const double FullActBytes = P.Options.has_profile()
                                  ? P.Options.profile().act_mib() * MiB
                                  : Tokens * H * (34 + 5 * A * S / H) * ElemBytes / 2.0;
  Blk.ActivationBytes = static_cast<int64_t>(FullActBytes * ActScale);
  RecomputeWorkingBytes =
      Recompute == proto::RECOMPUTE_NONE
          ? 0
          : static_cast<int64_t>(FullActBytes * (AllUnits - Units) / (34 + 5 * A * S / H));
  Blk.OutputBytes = static_cast<int64_t>(Out / T);
  for (int32_t I = 0; I < M.num_layers(); ++I)
    Layers.push_back(Blk);

  // Head: final LayerNorm, vocab projection (vocabulary-parallel) and
  // cross-entropy.
  LayerCost Head;
  Head.ParamCount = M.tied_embeddings() ? 2 * static_cast<int64_t>(H)
                                        : static_cast<int64_t>(Vocab * H / T + 2 * H);
  Head.ForwardMs = Ms(Tokens * 2 * H * Vocab) / T;
  Head.BackwardMs = 2 * Head.ForwardMs;
  Head.ActivationBytes = static_cast<int64_t>(Tokens * (H + Vocab / T)) * ElemBytes;
  Head.OutputBytes = 0;
  Layers.push_back(Head);

  // A profile with pfc's extension columns measured the embedding, the head
  // and the optimizer step too (ProfileCsv.cpp), on one GPU: / T like the
  // blocks; the optimizer's rate is per parameter of a whole block.
  if (P.Options.has_profile()) {
    const proto::BlockProfile &Prof = P.Options.profile();
    if (Prof.has_embedding()) {
      Layers.front().ForwardMs = Prof.embedding().forward_ms() / T;
      Layers.front().BackwardMs = Prof.embedding().backward_ms() / T;
    }
    if (Prof.has_head()) {
      Layers.back().ForwardMs = Prof.head().forward_ms() / T;
      Layers.back().BackwardMs = Prof.head().backward_ms() / T;
    }
    const double BlockParams = 4 * H * H + 2 * H * F + 9 * H + F;
    if (Prof.has_optimizer_ms() && BlockParams > 0)
      OptimizerMsPerParam = Prof.optimizer_ms() / BlockParams;
  }

  for (LayerCost &L : Layers)
    L.ParamBytes = L.ParamCount * ElemBytes;
  if (P.Options.has_profile())
    for (int32_t I = 1; I <= M.num_layers(); ++I)
      Layers[I].ParamBytes = static_cast<int64_t>(P.Options.profile().param_mib() * MiB / T);
}

double CostModel::p2pMs(const Program &P, int32_t From, int32_t To, int64_t Bytes) const {
  bool SameNode = P.Devices[From].Node == P.Devices[To].Node;
  return linkMs(SameNode ? Intra : Inter, static_cast<double>(Bytes));
}

double CostModel::ringAllReduceMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const {
  if (Ranks <= 1)
    return 0;
  // 2(n-1) steps, each moving Bytes/n over the slowest link.
  const proto::LinkSpec &L = CrossNode ? Inter : Intra;
  return 2.0 * (Ranks - 1) * linkMs(L, static_cast<double>(Bytes) / Ranks);
}

double CostModel::allReduceMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const {
  if (Ranks <= 1)
    return 0;
  const proto::LinkSpec &L = CrossNode ? Inter : Intra;
  const double Ring = ringAllReduceMs(Bytes, Ranks, CrossNode);
  // Double binary tree (NCCL): reduce up and broadcast down, pipelined, so
  // 2 log2(n) latencies and the whole tensor twice over the link. NCCL picks
  // the faster; so does pfc (the tree wins for small tensors on many ranks).
  const double Depth = std::ceil(std::log2(static_cast<double>(Ranks)));
  const double Tree = 2 * Depth * L.latency_us() * 1e-3 +
                      2 * (L.bandwidth_gbps() > 0 ? Bytes / (L.bandwidth_gbps() * 1e6) : 0);
  return std::min(Ring, Tree);
}

double CostModel::optimizerMs(int64_t Params) const {
  if (OptimizerMsPerParam >= 0)
    return OptimizerMsPerParam * static_cast<double>(Params);
  // Adam reads and writes parameters, gradients and two moments in fp32.
  double Bytes = static_cast<double>(Params) * 4 * 4 * 2;
  return MemBandwidthGBps > 0 ? Bytes / (MemBandwidthGBps * 1e6) : 0;
}

int64_t CostModel::staticBytesPerParam() const {
  // Parameters and gradients at model precision; fp32 master copy and two
  // Adam moments (omitted at fp32/fp64, where the parameters are the master).
  return ElemBytes <= 2 ? 2 * ElemBytes + 12 : 4 * ElemBytes;
}

} // namespace pfc
