//===- Tensor.h - a minimal dense tensor for the CPU interpreter -----------===//
//
// The interpreter's kernels work on row-major dense arrays of float or double
// with owning std::vector storage. A tensor of any rank is also seen as a
// matrix: rows() is the product of all dimensions but the last, cols() the
// last dimension, which is how activations ([sequences * tokens, features])
// reach BLAS. Nothing here allocates behind the caller's back: copies are
// explicit value copies, and there are no views or broadcasting.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_TENSOR_H
#define PFC_BACKENDS_INTERP_TENSOR_H

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

namespace pfc::interp {

template <typename T> class Tensor {
public:
  using Scalar = T;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> Shape, T Fill = T(0))
      : Dims(std::move(Shape)), Data(static_cast<size_t>(product(Dims)), Fill) {}
  static Tensor matrix(int64_t Rows, int64_t Cols, T Fill = T(0)) {
    return Tensor({Rows, Cols}, Fill);
  }
  static Tensor vector(int64_t N, T Fill = T(0)) { return Tensor({N}, Fill); }

  const std::vector<int64_t> &shape() const { return Dims; }
  int64_t rank() const { return static_cast<int64_t>(Dims.size()); }
  int64_t dim(int64_t I) const { return Dims[static_cast<size_t>(I)]; }
  int64_t numel() const { return static_cast<int64_t>(Data.size()); }
  bool empty() const { return Data.empty(); }
  /// Matrix view: all dimensions but the last, folded.
  int64_t rows() const { return Dims.empty() ? 0 : numel() / Dims.back(); }
  int64_t cols() const { return Dims.empty() ? 0 : Dims.back(); }

  T *data() { return Data.data(); }
  const T *data() const { return Data.data(); }
  T &operator[](int64_t I) { return Data[static_cast<size_t>(I)]; }
  const T &operator[](int64_t I) const { return Data[static_cast<size_t>(I)]; }
  T &at(int64_t R, int64_t C) { return Data[static_cast<size_t>(R * cols() + C)]; }
  const T &at(int64_t R, int64_t C) const {
    return Data[static_cast<size_t>(R * cols() + C)];
  }
  std::vector<T> &storage() { return Data; }
  const std::vector<T> &storage() const { return Data; }

  void fill(T V) { std::fill(Data.begin(), Data.end(), V); }
  /// Same elements, new shape of equal size.
  void reshape(std::vector<int64_t> Shape) {
    assert(product(Shape) == numel() && "reshape changes the element count");
    Dims = std::move(Shape);
  }
  bool sameShape(const Tensor &O) const { return Dims == O.Dims; }

private:
  static int64_t product(const std::vector<int64_t> &S) {
    return std::accumulate(S.begin(), S.end(), int64_t(1), std::multiplies<int64_t>());
  }

  std::vector<int64_t> Dims;
  std::vector<T> Data;
};

/// Y += Alpha * X (same shape).
template <typename T> void addScaled(Tensor<T> &Y, const Tensor<T> &X, T Alpha = T(1)) {
  assert(Y.numel() == X.numel() && "addScaled: size mismatch");
  for (int64_t I = 0, N = Y.numel(); I < N; ++I)
    Y[I] += Alpha * X[I];
}

/// Element-wise conversion between precisions.
template <typename To, typename From> Tensor<To> castTensor(const Tensor<From> &X) {
  Tensor<To> Y(X.shape());
  for (int64_t I = 0, N = X.numel(); I < N; ++I)
    Y[I] = static_cast<To>(X[I]);
  return Y;
}

/// Sum of element-wise products, accumulated in double.
template <typename T> double dot(const Tensor<T> &A, const Tensor<T> &B) {
  assert(A.numel() == B.numel() && "dot: size mismatch");
  double S = 0;
  for (int64_t I = 0, N = A.numel(); I < N; ++I)
    S += static_cast<double>(A[I]) * static_cast<double>(B[I]);
  return S;
}

} // namespace pfc::interp

#endif
