//===- LmHead.cpp - final LayerNorm, vocabulary projection, cross-entropy --===//
#include "LmHead.h"

#include "Loss.h"

namespace pfc::interp {

template <typename T>
LmHead<T>::LmHead(const std::string &Name, int64_t Hidden, int64_t Vocab)
    : Norm(Name + ".norm", Hidden), Proj(Name + ".proj", Hidden, Vocab) {}

template <typename T>
double LmHead<T>::forward(int32_t Mb, const Tensor<T> &X, std::span<const int32_t> Targets) {
  Tensor<T> Logits = Proj.forward(Mb, Norm.forward(Mb, X));
  double Loss = crossEntropy<T>(Logits, Targets, T(0), nullptr);
  Cache.put(Mb, Saved{std::move(Logits), std::vector<int32_t>(Targets.begin(), Targets.end())});
  return Loss;
}

template <typename T> Tensor<T> LmHead<T>::backward(int32_t Mb, T Scale) {
  Saved S = Cache.take(Mb);
  Tensor<T> DLogits;
  crossEntropy<T>(S.Logits, S.Targets, Scale, &DLogits);
  return Norm.backward(Mb, Proj.backward(Mb, DLogits));
}

template <typename T> ParamList<T> LmHead<T>::params() {
  ParamList<T> P = Norm.params();
  for (Param<T> *Q : Proj.params())
    P.push_back(Q);
  return P;
}

template class LmHead<float>;
template class LmHead<double>;

} // namespace pfc::interp
