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
  /// Time of a point-to-point transfer between two devices.
  double p2pMs(const Program &P, int32_t From, int32_t To, int64_t Bytes) const;
  /// Time of a ring all-reduce of \p Bytes among \p Ranks ranks.
  double allReduceMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const;
  /// Ring reduce-scatter or all-gather of \p Bytes (the whole tensor): half
  /// of the all-reduce, n-1 steps of Bytes/n.
  double reduceScatterMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const {
    return allReduceMs(Bytes, Ranks, CrossNode) / 2;
  }
  double allGatherMs(int64_t Bytes, int32_t Ranks, bool CrossNode) const {
    return allReduceMs(Bytes, Ranks, CrossNode) / 2;
  }
  /// Optimizer step over \p Params parameters: the profile's measured rate
  /// when it has one, else Adam, memory bound.
  double optimizerMs(int64_t Params) const;
  /// Bytes per parameter of parameters + gradients + optimizer state (mixed
  /// precision Adam: 2 + 2 + 12 at fp16).
  int64_t staticBytesPerParam() const;

private:
  std::vector<LayerCost> Layers;
  int64_t ElemBytes = 2;
  double MemBandwidthGBps = 0;
  double OptimizerMsPerParam = -1; ///< from the profile; < 0: analytic
  proto::LinkSpec Intra, Inter;
};

} // namespace pfc

#endif
