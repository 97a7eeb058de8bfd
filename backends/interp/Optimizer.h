//===- Optimizer.h - SGD with momentum, AdamW and K-FAC behind one interface ===//
//
// An optimizer owns the state of a list of parameters and updates them from
// the gradients accumulated over a step (the caller zeroes the gradients
// before the next step). In a pipeline each stage holds its own optimizer for
// its parameters; the plan's OPTIMIZER_STEP task is a call to step().
//
// SGD:    b ← μ b + (g + wd·p),  p ← p − η b   (PyTorch's convention).
// AdamW:  Adam with bias correction and decoupled weight decay
//         p ← p − η (m̂ / (√v̂ + ε) + wd·p).
// K-FAC:  see KfacOptimizer.h.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_OPTIMIZER_H
#define PFC_BACKENDS_INTERP_OPTIMIZER_H

#include "Param.h"

#include <memory>
#include <string_view>

namespace pfc::interp {

template <typename T> class Optimizer {
public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;
  /// Updates every parameter from its accumulated gradient.
  virtual void step() = 0;
};

struct SgdOptions {
  double Lr = 0.1;
  double Momentum = 0.9;
  double WeightDecay = 0;
};

struct AdamOptions {
  double Lr = 1e-3;
  double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
  double WeightDecay = 0.01;
};

/// The momentum-SGD update of one parameter along direction \p Dir
/// (normally its gradient), with momentum buffer \p Buf.
template <typename T>
void momentumUpdate(Param<T> &P, const Tensor<T> &Dir, Tensor<T> &Buf, const SgdOptions &O);

template <typename T>
std::unique_ptr<Optimizer<T>> createSgd(ParamList<T> Params, const SgdOptions &O);
template <typename T>
std::unique_ptr<Optimizer<T>> createAdamW(ParamList<T> Params, const AdamOptions &O);

} // namespace pfc::interp

#endif
