//===- Param.h - trainable parameters and per-micro-batch saved state ------===//
//
// A parameter is a value and the gradient accumulated into it over the
// micro-batches of a step. Kernels save what their backward needs in a
// MicrobatchStore keyed by micro-batch id, because a pipeline schedule runs
// several micro-batches' forwards before their backwards (and 1F1B
// interleaves them): the saved state of every in-flight micro-batch must live
// side by side and be freed by that micro-batch's backward.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_PARAM_H
#define PFC_BACKENDS_INTERP_PARAM_H

#include "Tensor.h"

#include <cassert>
#include <map>
#include <string>
#include <vector>

namespace pfc::interp {

template <typename T> struct Param {
  std::string Name;
  Tensor<T> Value;
  /// Sum over the step's micro-batches of d(step loss)/d(Value).
  Tensor<T> Grad;

  Param() = default;
  Param(std::string N, std::vector<int64_t> Shape)
      : Name(std::move(N)), Value(Shape), Grad(Shape) {}
  void zeroGrad() { Grad.fill(T(0)); }
};

template <typename T> using ParamList = std::vector<Param<T> *>;

/// Saved state per in-flight micro-batch. put() replaces an existing entry,
/// take() removes it.
template <typename V> class MicrobatchStore {
public:
  void put(int32_t Mb, V Value) { Entries[Mb] = std::move(Value); }
  bool contains(int32_t Mb) const { return Entries.count(Mb) != 0; }
  const V &get(int32_t Mb) const {
    auto It = Entries.find(Mb);
    assert(It != Entries.end() && "no saved state for this micro-batch");
    return It->second;
  }
  V take(int32_t Mb) {
    auto It = Entries.find(Mb);
    assert(It != Entries.end() && "no saved state for this micro-batch");
    V Value = std::move(It->second);
    Entries.erase(It);
    return Value;
  }
  size_t size() const { return Entries.size(); }
  /// Micro-batch ids with saved state, ascending.
  std::vector<int32_t> keys() const {
    std::vector<int32_t> K;
    for (const auto &E : Entries)
      K.push_back(E.first);
    return K;
  }
  void clear() { Entries.clear(); }

private:
  std::map<int32_t, V> Entries;
};

} // namespace pfc::interp

#endif
