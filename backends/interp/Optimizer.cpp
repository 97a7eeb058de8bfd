//===- Optimizer.cpp - SGD with momentum and AdamW -------------------------===//
#include "Optimizer.h"

#include <cmath>

namespace pfc::interp {
namespace {

template <typename T> class Sgd : public Optimizer<T> {
public:
  Sgd(ParamList<T> Params, const SgdOptions &O) : Params(std::move(Params)), Opts(O) {
    for (Param<T> *P : this->Params)
      Bufs.emplace_back(P->Value.shape());
  }
  std::string_view name() const override { return "sgd"; }
  void step() override {
    for (size_t I = 0; I < Params.size(); ++I)
      momentumUpdate(*Params[I], Params[I]->Grad, Bufs[I], Opts);
  }

private:
  ParamList<T> Params;
  SgdOptions Opts;
  std::vector<Tensor<T>> Bufs;
};

template <typename T> class AdamW : public Optimizer<T> {
public:
  AdamW(ParamList<T> Params, const AdamOptions &O) : Params(std::move(Params)), Opts(O) {
    for (Param<T> *P : this->Params) {
      M.emplace_back(P->Value.shape());
      V.emplace_back(P->Value.shape());
    }
  }
  std::string_view name() const override { return "adamw"; }
  void step() override {
    ++Steps;
    const double C1 = 1 - std::pow(Opts.Beta1, Steps), C2 = 1 - std::pow(Opts.Beta2, Steps);
    for (size_t I = 0; I < Params.size(); ++I) {
      Param<T> &P = *Params[I];
      for (int64_t J = 0; J < P.Value.numel(); ++J) {
        const double G = P.Grad[J];
        M[I][J] = static_cast<T>(Opts.Beta1 * M[I][J] + (1 - Opts.Beta1) * G);
        V[I][J] = static_cast<T>(Opts.Beta2 * V[I][J] + (1 - Opts.Beta2) * G * G);
        const double Update = (M[I][J] / C1) / (std::sqrt(V[I][J] / C2) + Opts.Eps);
        P.Value[J] -= static_cast<T>(Opts.Lr * (Update + Opts.WeightDecay * P.Value[J]));
      }
    }
  }

private:
  ParamList<T> Params;
  AdamOptions Opts;
  std::vector<Tensor<T>> M, V;
  int64_t Steps = 0;
};

} // namespace

template <typename T>
void momentumUpdate(Param<T> &P, const Tensor<T> &Dir, Tensor<T> &Buf, const SgdOptions &O) {
  for (int64_t J = 0; J < P.Value.numel(); ++J) {
    Buf[J] = static_cast<T>(O.Momentum) * Buf[J] + Dir[J] +
             static_cast<T>(O.WeightDecay) * P.Value[J];
    P.Value[J] -= static_cast<T>(O.Lr) * Buf[J];
  }
}

template <typename T>
std::unique_ptr<Optimizer<T>> createSgd(ParamList<T> Params, const SgdOptions &O) {
  return std::make_unique<Sgd<T>>(std::move(Params), O);
}

template <typename T>
std::unique_ptr<Optimizer<T>> createAdamW(ParamList<T> Params, const AdamOptions &O) {
  return std::make_unique<AdamW<T>>(std::move(Params), O);
}

#define PFC_OPTIMIZER_INSTANTIATE(T)                                                         \
  template void momentumUpdate(Param<T> &, const Tensor<T> &, Tensor<T> &, const SgdOptions &); \
  template std::unique_ptr<Optimizer<T>> createSgd(ParamList<T>, const SgdOptions &);        \
  template std::unique_ptr<Optimizer<T>> createAdamW(ParamList<T>, const AdamOptions &);
PFC_OPTIMIZER_INSTANTIATE(float)
PFC_OPTIMIZER_INSTANTIATE(double)
#undef PFC_OPTIMIZER_INSTANTIATE

} // namespace pfc::interp
