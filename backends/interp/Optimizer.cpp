//===- Optimizer.cpp - SGD with momentum and AdamW -------------------------===//
//
// Both keep their state as flat vectors over the range of the parameters'
// flat view they update: all of it, or the ZeRO shard given to shard().
//
//===----------------------------------------------------------------------===//
#include "Optimizer.h"

#include <cmath>

namespace pfc::interp {

template <typename T>
void momentumUpdate(T *Value, const T *Dir, T *Buf, int64_t N, const SgdOptions &O) {
  const T Mu = static_cast<T>(O.Momentum), Wd = static_cast<T>(O.WeightDecay);
  const T Lr = static_cast<T>(O.Lr);
  for (int64_t J = 0; J < N; ++J) {
    Buf[J] = Mu * Buf[J] + Dir[J] + Wd * Value[J];
    Value[J] -= Lr * Buf[J];
  }
}

namespace {

/// What SGD and AdamW share: the parameters and the flat range they update.
template <typename T> class ElementwiseOptimizer : public Optimizer<T> {
public:
  explicit ElementwiseOptimizer(ParamList<T> Ps)
      : Params(std::move(Ps)), Begin(0), End(flatSize(Params)) {}
  bool shard(int64_t B, int64_t E) override {
    Begin = std::clamp<int64_t>(B, 0, flatSize(Params));
    End = std::clamp<int64_t>(E, Begin, flatSize(Params));
    resetState(End - Begin);
    return true;
  }

protected:
  /// Drops the state and allocates \p N elements of it, zero.
  virtual void resetState(int64_t N) = 0;

  ParamList<T> Params;
  int64_t Begin, End;
};

template <typename T> class Sgd : public ElementwiseOptimizer<T> {
public:
  Sgd(ParamList<T> Params, const SgdOptions &O)
      : ElementwiseOptimizer<T>(std::move(Params)), Opts(O) {
    resetState(this->End - this->Begin);
  }
  std::string_view name() const override { return "sgd"; }
  void setLearningRate(double Lr) override { Opts.Lr = Lr; }
  double learningRate() const override { return Opts.Lr; }
  int64_t stateElements() const override { return static_cast<int64_t>(Buf.size()); }
  void step() override {
    forFlatRange(this->Params, this->Begin, this->End,
                 [&](size_t I, int64_t J0, int64_t J1, int64_t Flat) {
                   Param<T> &P = *this->Params[I];
                   momentumUpdate(P.Value.data() + J0, P.Grad.data() + J0,
                                  Buf.data() + (Flat - this->Begin), J1 - J0, Opts);
                 });
  }

private:
  void resetState(int64_t N) override { Buf.assign(static_cast<size_t>(N), T(0)); }

  SgdOptions Opts;
  std::vector<T> Buf;
};

template <typename T> class AdamW : public ElementwiseOptimizer<T> {
public:
  AdamW(ParamList<T> Params, const AdamOptions &O)
      : ElementwiseOptimizer<T>(std::move(Params)), Opts(O) {
    resetState(this->End - this->Begin);
  }
  std::string_view name() const override { return "adamw"; }
  void setLearningRate(double Lr) override { Opts.Lr = Lr; }
  double learningRate() const override { return Opts.Lr; }
  int64_t stateElements() const override { return static_cast<int64_t>(M.size() + V.size()); }
  void step() override {
    ++Steps;
    const double C1 = 1 - std::pow(Opts.Beta1, Steps), C2 = 1 - std::pow(Opts.Beta2, Steps);
    forFlatRange(
        this->Params, this->Begin, this->End, [&](size_t I, int64_t J0, int64_t J1, int64_t Flat) {
          Param<T> &P = *this->Params[I];
          T *Mp = M.data() + (Flat - this->Begin), *Vp = V.data() + (Flat - this->Begin);
          for (int64_t J = J0; J < J1; ++J) {
            const double G = P.Grad[J];
            T &Mj = Mp[J - J0], &Vj = Vp[J - J0];
            Mj = static_cast<T>(Opts.Beta1 * Mj + (1 - Opts.Beta1) * G);
            Vj = static_cast<T>(Opts.Beta2 * Vj + (1 - Opts.Beta2) * G * G);
            const double Update = (Mj / C1) / (std::sqrt(Vj / C2) + Opts.Eps);
            P.Value[J] -= static_cast<T>(Opts.Lr * (Update + Opts.WeightDecay * P.Value[J]));
          }
        });
  }

private:
  void resetState(int64_t N) override {
    M.assign(static_cast<size_t>(N), T(0));
    V.assign(static_cast<size_t>(N), T(0));
    Steps = 0;
  }

  AdamOptions Opts;
  std::vector<T> M, V;
  int64_t Steps = 0;
};

} // namespace

template <typename T>
void momentumUpdate(Param<T> &P, const Tensor<T> &Dir, Tensor<T> &Buf, const SgdOptions &O) {
  momentumUpdate(P.Value.data(), Dir.data(), Buf.data(), P.Value.numel(), O);
}

template <typename T>
std::unique_ptr<Optimizer<T>> createSgd(ParamList<T> Params, const SgdOptions &O) {
  return std::make_unique<Sgd<T>>(std::move(Params), O);
}

template <typename T>
std::unique_ptr<Optimizer<T>> createAdamW(ParamList<T> Params, const AdamOptions &O) {
  return std::make_unique<AdamW<T>>(std::move(Params), O);
}

#define PFC_OPTIMIZER_INSTANTIATE(T)                                                               \
  template void momentumUpdate(Param<T> &, const Tensor<T> &, Tensor<T> &, const SgdOptions &);    \
  template void momentumUpdate(T *, const T *, T *, int64_t, const SgdOptions &);                  \
  template std::unique_ptr<Optimizer<T>> createSgd(ParamList<T>, const SgdOptions &);              \
  template std::unique_ptr<Optimizer<T>> createAdamW(ParamList<T>, const AdamOptions &);
PFC_OPTIMIZER_INSTANTIATE(float)
PFC_OPTIMIZER_INSTANTIATE(double)
#undef PFC_OPTIMIZER_INSTANTIATE

} // namespace pfc::interp
