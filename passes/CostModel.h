//===- CostModel.h - durations and sizes of the work -----------------------===//
//
// Per-layer costs of a Transformer (layer 0 = embedding, 1..L = blocks,
// L+1 = head) and of communication. Analytic by default: FLOPs against the
// device's peak times its efficiency, bytes against link bandwidth plus
// latency. A measured BlockProfile overrides the block costs, and with its
// extension fields (pfc-run's profiles) the embedding, head and optimizer
// step costs too.
//
// Conventions: times in milliseconds, sizes in bytes, FLOPs of a GEMM
// m x k by k x n are 2mkn, backward = 2 x forward FLOPs.
//
// Tensor parallelism (--tensor-parallel T, Megatron-LM: Shoeybi et al. 2019,
// Narayanan et al. 2021): every cost is per GPU of a T-GPU group. A block's
// GEMMs and parameters divide by T; its forward and its backward each add two
// all-reduces of the s x b x h activation among the T GPUs (intra-node link);
// embedding and head are vocabulary-parallel; a stage's output goes to the
// next stage as T parallel slices of 1/T. Activation memory follows
// Korthikanti et al. 2022 (Table 2), per block and micro-batch at 16-bit,
// with c = 10 (c = 10/T under --sequence-parallel, which shards LayerNorm and
// dropout activations and the block input too):
//   none       s b h (c + 24/T + 5 a s / (h T))
//   selective  s b h (c + 24/T)         backward reruns the attention core
//   full       2 s b h (2 s b h / T with sequence parallelism): the block
//              input; the backward reruns the whole forward
// Sequence parallelism's reduce-scatter + all-gather move what the
// all-reduce moved, so its time is the same. A measured profile (one GPU,
// T = 1) is scaled the same way.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_COSTMODEL_H
#define PFC_PASSES_COSTMODEL_H

#include "ir/Program.h"

namespace pfc {

struct LayerCost {
  double ForwardMs = 0;
  double BackwardMs = 0;
  int64_t ParamCount = 0;
  int64_t ParamBytes = 0;
  int64_t ActivationBytes = 0; ///< saved for backward, per micro-batch
  int64_t OutputBytes = 0;     ///< activation passed on, per micro-batch
};

class CostModel {
public:
  explicit CostModel(const Program &P);

  int32_t numLayers() const { return static_cast<int32_t>(Layers.size()); }
  const LayerCost &layer(int32_t I) const { return Layers[I]; }

  /// Bytes of one element at the model's precision.
  int64_t elementBytes() const { return ElemBytes; }
  /// Time of a point-to-point transfer of \p Bytes (per GPU) between two
  /// devices.
  double p2pMs(const Program &P, int32_t From, int32_t To, int64_t Bytes) const;
  /// Time of an all-reduce of \p Bytes among \p Ranks ranks: the faster of
  /// a ring (2(n-1) steps of Bytes/n) and NCCL's double binary tree
  /// (2 log2 n latencies, 2 Bytes over the link).
  double allReduceMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const;
  /// Ring reduce-scatter or all-gather of \p Bytes (the whole tensor): half
  /// of the all-reduce, n-1 steps of Bytes/n.
  double reduceScatterMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const {
    return ringAllReduceMs(Bytes, Ranks, CrossNode) / 2;
  }
  double allGatherMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const {
    return ringAllReduceMs(Bytes, Ranks, CrossNode) / 2;
  }
  /// Optimizer step over \p Params parameters: the profile's measured rate
  /// when it has one, else Adam, memory bound.
  double optimizerMs(int64_t Params) const;
  /// Bytes per parameter of parameters + gradients + optimizer state (mixed
  /// precision Adam: 2 + 2 + 12 at fp16).
  int64_t staticBytesPerParam() const;
  /// GPUs per plan device (T >= 1).
  int32_t tensorParallel() const { return TensorParallel; }
  /// Extra activation memory while one block's backward recomputes: the
  /// activations recomputation dropped, for one block and micro-batch.
  int64_t recomputeWorkingBytes() const { return RecomputeWorkingBytes; }

private:
  double ringAllReduceMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const;

  std::vector<LayerCost> Layers;
  int64_t ElemBytes = 2;
  int32_t TensorParallel = 1;
  int64_t RecomputeWorkingBytes = 0;
  double MemBandwidthGBps = 0;
  double OptimizerMsPerParam = -1; ///< from the profile; < 0: analytic
  proto::LinkSpec Intra, Inter;
};

} // namespace pfc

#endif
