//===- Model.h - a small Transformer LM split like the plan's stages -------===//
//
// Layers are numbered as in plan.proto: 0 = embedding, 1..L = blocks,
// L+1 = final LayerNorm + LM head + cross-entropy. A stage runs the forward
// or backward of its range [begin, end) for one micro-batch; every layer
// keeps that micro-batch's saved activations until its backward, so any
// schedule's order of forwards and backwards works. The dimensions come from
// a proto::Model scaled down (ModelScale) so a plan for GPT-3 can be run with
// its stage structure on a laptop. Parameters are drawn from the seed, layer
// by layer, independently of the split.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_MODEL_H
#define PFC_BACKENDS_INTERP_MODEL_H

#include "Block.h"
#include "Embedding.h"
#include "LmHead.h"

#include "model.pb.h"

#include "llvm/Support/Error.h"

#include <memory>

namespace pfc::interp {

struct ModelConfig {
  int32_t Layers = 2; ///< Transformer blocks
  int32_t Hidden = 16;
  int32_t Ffn = 64;
  int32_t Heads = 2;
  int32_t Seq = 8;
  int32_t Vocab = 32;
  int32_t MicroBatch = 2; ///< sequences per micro-batch
  uint64_t Seed = 1;
};

/// Replacement dimensions for running a big model small; 0 keeps the model's.
struct ModelScale {
  int32_t Layers = 0, Hidden = 0, Ffn = 0, Heads = 0, Seq = 0, Vocab = 0, MicroBatch = 0;
};

/// Bytes a CPU run of \p C needs, roughly: per replica, parameters with
/// their gradients and two optimizer moments, and the activations every
/// block and the head keep for the backward of \p InFlight micro-batches at
/// once (all replicas together), in elements of \p ElemBytes. An estimate
/// for refusing runs that cannot fit, not a measurement.
double runBytes(const ModelConfig &C, int64_t Replicas, int64_t InFlight, int64_t ElemBytes);

/// A user error when runBytes exceeds \p LimitBytes (this machine's memory,
/// physicalMemoryBytes(), when 0), naming both and what to scale down.
llvm::Error checkRunFits(const ModelConfig &C, int64_t Replicas, int64_t InFlight,
                         int64_t ElemBytes, double LimitBytes = 0);

/// The machine's physical memory in bytes (0 if unknown).
double physicalMemoryBytes();

/// The model's dimensions with \p Scale applied. A scaled hidden size without
/// an explicit Ffn keeps the model's Ffn/Hidden ratio. Fails when heads do
/// not divide the hidden size or a dimension is not positive.
llvm::Expected<ModelConfig> scaledConfig(const proto::Model &M, const ModelScale &Scale,
                                         uint64_t Seed);

/// Token ids and next-token targets of Sequences sequences, row-major.
struct Batch {
  int32_t Sequences = 0;
  std::vector<int32_t> Tokens, Targets;
};

/// A reproducible synthetic batch: batch \p Index of the data stream \p Seed.
/// Targets follow a fixed random map of the token plus noise, so there is
/// something to learn.
Batch syntheticBatch(const ModelConfig &C, uint64_t Seed, int32_t Index, int32_t Sequences);
/// The batches' sequences, in order, as one batch.
Batch concatBatches(std::span<const Batch> Parts);

template <typename T> class Model {
public:
  explicit Model(const ModelConfig &C);

  const ModelConfig &config() const { return Cfg; }
  int32_t numLayers() const { return Cfg.Layers + 2; }

  /// Forward of layers [Begin, End) for micro-batch \p Mb. With Begin == 0
  /// the input is \p Data's tokens and \p In is ignored; with
  /// End == numLayers() the result is the mean loss as a one-element tensor.
  Tensor<T> forward(int32_t Begin, int32_t End, int32_t Mb, const Batch &Data,
                    const Tensor<T> &In);
  /// Backward of layers [Begin, End) for \p Mb, accumulating parameter
  /// gradients. With End == numLayers() the gradient starts at the loss,
  /// scaled by \p LossScale (see Loss.h), and \p DOut is ignored; with
  /// Begin == 0 the result is empty.
  Tensor<T> backward(int32_t Begin, int32_t End, int32_t Mb, const Tensor<T> &DOut,
                     T LossScale);

  ParamList<T> params(int32_t Begin, int32_t End);
  ParamList<T> params() { return params(0, numLayers()); }
  /// The Linear layers K-FAC preconditions (every block's six and the head's).
  std::vector<Linear<T> *> linears(int32_t Begin, int32_t End);
  std::vector<Linear<T> *> linears() { return linears(0, numLayers()); }
  void zeroGrad();

  Embedding<T> Embed;
  std::vector<std::unique_ptr<Block<T>>> Blocks;
  LmHead<T> Head;

private:
  ModelConfig Cfg;
};

extern template class Model<float>;
extern template class Model<double>;

} // namespace pfc::interp

#endif
