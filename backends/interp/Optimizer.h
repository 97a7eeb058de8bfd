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
// η is the options' Lr until setLearningRate changes it (a schedule,
// LrSchedule.h, sets it before every step); the state is kept.
//
// ZeRO (ZeroCollectives.h): SGD and AdamW are elementwise, so shard(B, E)
// restricts one to the elements [B, E) of its parameters' flat view (the
// parameters' elements back to back, in list order): step() then reads and
// updates those only, and the state holds E − B elements per moment. A
// plan-driven K-FAC optimizer shards too, without the KL clip: its update
// after preconditioning is momentum SGD (KfacOptimizer.h).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_OPTIMIZER_H
#define PFC_BACKENDS_INTERP_OPTIMIZER_H

#include "Param.h"

#include <algorithm>
#include <memory>
#include <string_view>

namespace pfc::interp {

template <typename T> class Optimizer {
public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;
  /// Updates every parameter (or, once sharded, its shard) from its
  /// accumulated gradient.
  virtual void step() = 0;
  /// η of the following steps (K-FAC: also the η of its KL clip). SGD,
  /// AdamW and K-FAC implement both; an optimizer without a rate (a test
  /// double) ignores the setter and returns -1.
  virtual void setLearningRate(double Lr) {}
  virtual double learningRate() const { return -1; }
  /// From now on update only the flat elements [Begin, End) and keep state
  /// for those only (dropping any state held so far). False: this optimizer
  /// cannot be sharded (nothing changed).
  virtual bool shard(int64_t Begin, int64_t End) { return false; }
  /// Elements of optimizer state held (momentum buffers, moments); -1 when
  /// the optimizer does not say.
  virtual int64_t stateElements() const { return -1; }
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

/// The number of elements of \p Params' flat view.
template <typename T> int64_t flatSize(const ParamList<T> &Params) {
  int64_t N = 0;
  for (const Param<T> *P : Params)
    N += P->Value.numel();
  return N;
}

/// Calls \p F(I, J0, J1, Flat) for every parameter \p Params[I] that
/// overlaps the flat range [Begin, End): its elements [J0, J1) are flat
/// elements [Flat, Flat + J1 - J0).
template <typename T, typename Fn>
void forFlatRange(const ParamList<T> &Params, int64_t Begin, int64_t End, Fn &&F) {
  int64_t Offset = 0;
  for (size_t I = 0; I < Params.size() && Offset < End; ++I) {
    const int64_t N = Params[I]->Value.numel();
    const int64_t J0 = std::max<int64_t>(0, Begin - Offset);
    const int64_t J1 = std::min<int64_t>(N, End - Offset);
    if (J0 < J1)
      F(I, J0, J1, Offset + J0);
    Offset += N;
  }
}

/// The momentum-SGD update of one parameter along direction \p Dir
/// (normally its gradient), with momentum buffer \p Buf.
template <typename T>
void momentumUpdate(Param<T> &P, const Tensor<T> &Dir, Tensor<T> &Buf, const SgdOptions &O);
/// The same on \p N elements: Buf = μ Buf + Dir + wd Value, Value -= η Buf.
template <typename T>
void momentumUpdate(T *Value, const T *Dir, T *Buf, int64_t N, const SgdOptions &O);

template <typename T>
std::unique_ptr<Optimizer<T>> createSgd(ParamList<T> Params, const SgdOptions &O);
template <typename T>
std::unique_ptr<Optimizer<T>> createAdamW(ParamList<T> Params, const AdamOptions &O);

} // namespace pfc::interp

#endif
