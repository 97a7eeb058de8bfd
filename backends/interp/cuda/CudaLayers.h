//===- CudaLayers.h - the Transformer's layers on the GPU ------------------===//
//
// GPU twins of Linear, LayerNorm, Gelu, Attention, Embedding, LmHead and
// Block (the CPU files of the same names give the formulas and layouts).
// Each is built from its CPU layer, whose parameter values it uploads, so
// both backends start from the same weights; forward and backward take the
// lane (stream and handles) to issue on, and keep per-micro-batch saved
// state exactly as the CPU layers do. GEMMs are cuBLAS; the rest Kernels.h.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDALAYERS_H
#define PFC_BACKENDS_INTERP_CUDA_CUDALAYERS_H

#include "DeviceTensor.h"
#include "Lane.h"

#include "backends/interp/Block.h"
#include "backends/interp/Embedding.h"
#include "backends/interp/LmHead.h"

#include <span>

namespace pfc::interp::cuda {

template <typename T> struct DeviceParam {
  std::string Name;
  DeviceTensor<T> Value;
  /// Sum over the step's micro-batches of d(step loss)/d(Value).
  DeviceTensor<T> Grad;

  DeviceParam() = default;
  /// \p P's value uploaded, gradient zero.
  DeviceParam(const Param<T> &P, Lane &L);
  bool empty() const { return Value.empty(); }
};

template <typename T> using DeviceParamList = std::vector<DeviceParam<T> *>;

template <typename T> class Linear {
public:
  Linear(const interp::Linear<T> &Cpu, Lane &L);
  int64_t inFeatures() const { return Weight.Value.cols(); }
  int64_t outFeatures() const { return Weight.Value.rows(); }
  bool hasBias() const { return !Bias.empty(); }

  DeviceTensor<T> forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X);
  DeviceTensor<T> backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY);
  DeviceParamList<T> params();

  DeviceParam<T> Weight, Bias;
  bool SaveForCurvature = false;
  MicrobatchStore<DeviceTensor<T>> CurvatureInputs, CurvatureGrads;

private:
  MicrobatchStore<DeviceTensor<T>> Inputs;
};

template <typename T> class LayerNorm {
public:
  LayerNorm(const interp::LayerNorm<T> &Cpu, Lane &L, double Eps = 1e-5);
  DeviceTensor<T> forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X);
  DeviceTensor<T> backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY);
  DeviceParamList<T> params() { return {&Gamma, &Beta}; }

  DeviceParam<T> Gamma, Beta;

private:
  struct Saved {
    DeviceTensor<T> Normalized, InvStd;
  };
  double Eps;
  MicrobatchStore<Saved> Cache;
};

template <typename T> class Gelu {
public:
  DeviceTensor<T> forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X);
  DeviceTensor<T> backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY);

private:
  MicrobatchStore<DeviceTensor<T>> Inputs;
};

template <typename T> class Attention {
public:
  Attention(const interp::Attention<T> &Cpu, Lane &L, int64_t Heads, int64_t Seq);
  DeviceTensor<T> forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X);
  DeviceTensor<T> backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY);
  DeviceParamList<T> params();
  std::vector<Linear<T> *> linears() { return {&Query, &Key, &Value, &Output}; }

  Linear<T> Query, Key, Value, Output;

private:
  struct Saved {
    DeviceTensor<T> Q, K, V, Probs;
  };
  int64_t Hidden, Heads, Seq;
  MicrobatchStore<Saved> Cache;
};

template <typename T> class Embedding {
public:
  Embedding(const interp::Embedding<T> &Cpu, Lane &L);
  DeviceTensor<T> forward(Lane &L, int32_t Mb, std::span<const int32_t> Tokens);
  void backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY);
  DeviceParamList<T> params() { return {&Token, &Position}; }

  DeviceParam<T> Token, Position;

private:
  struct SavedIds {
    DeviceTensor<int32_t> Csr; ///< the rows of each distinct id (Kernels.h)
    int64_t Unique = 0;
  };
  MicrobatchStore<SavedIds> Saved;
};

template <typename T> class LmHead {
public:
  LmHead(const interp::LmHead<T> &Cpu, Lane &L);
  /// Mean cross-entropy over the rows of \p X (waits for the lane).
  double forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X, std::span<const int32_t> Targets);
  DeviceTensor<T> backward(Lane &L, int32_t Mb, T Scale);
  DeviceParamList<T> params();
  std::vector<Linear<T> *> linears() { return {&Proj}; }

  LayerNorm<T> Norm;
  Linear<T> Proj;

private:
  struct Saved {
    DeviceTensor<T> Logits;
    DeviceTensor<int32_t> Targets;
  };
  MicrobatchStore<Saved> Cache;
};

template <typename T> class Block {
public:
  Block(const interp::Block<T> &Cpu, Lane &L, int64_t Heads, int64_t Seq);
  DeviceTensor<T> forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X);
  DeviceTensor<T> backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY);
  DeviceParamList<T> params();
  std::vector<Linear<T> *> linears();

  LayerNorm<T> Norm1;
  Attention<T> Attn;
  LayerNorm<T> Norm2;
  Linear<T> Fc1, Fc2;
  Gelu<T> Act;
};

} // namespace pfc::interp::cuda

#endif
