//===- DeviceTensor.h - a dense tensor in GPU memory -----------------------===//
//
// The CUDA backend's Tensor<T>: the same row-major shape API (rows() folds
// all dimensions but the last), storage from cudaMalloc owned by the object
// and freed with it. Nothing is initialised unless asked (zeros); copies are
// explicit (upload, download, clone), each on a given stream. An allocation
// that fails leaves the tensor empty of storage with the failure recorded
// (CudaCheck.h); the executor then fails the step. cudaFree waits until the
// device is idle, so a tensor may be destroyed while kernels that read it
// are still queued (simple and safe; a stream-ordered pool would be faster).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_DEVICETENSOR_H
#define PFC_BACKENDS_INTERP_CUDA_DEVICETENSOR_H

#include "CudaCheck.h"

#include "backends/interp/Tensor.h"

#include <memory>

namespace pfc::interp::cuda {

template <typename T> class DeviceTensor {
public:
  DeviceTensor() = default;
  /// Uninitialised storage of \p Shape.
  explicit DeviceTensor(std::vector<int64_t> Shape) : Dims(std::move(Shape)) {
    const int64_t N = numel();
    T *P = nullptr;
    if (N > 0 && PFC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void **>(&P),
                                           static_cast<size_t>(N) * sizeof(T))))
      Ptr.reset(P);
  }
  static DeviceTensor matrix(int64_t Rows, int64_t Cols) { return DeviceTensor({Rows, Cols}); }
  static DeviceTensor zeros(std::vector<int64_t> Shape, cudaStream_t S) {
    DeviceTensor X(std::move(Shape));
    X.zero(S);
    return X;
  }
  static DeviceTensor upload(const Tensor<T> &X, cudaStream_t S) {
    DeviceTensor D(X.shape());
    if (D.Ptr)
      PFC_CUDA_CHECK(cudaMemcpyAsync(D.data(), X.data(), D.bytes(), cudaMemcpyHostToDevice, S));
    return D;
  }
  /// A host copy; waits for \p S.
  Tensor<T> download(cudaStream_t S) const {
    Tensor<T> X(Dims);
    if (Ptr && PFC_CUDA_CHECK(cudaMemcpyAsync(X.data(), data(), bytes(), cudaMemcpyDeviceToHost,
                                              S)))
      PFC_CUDA_CHECK(cudaStreamSynchronize(S));
    return X;
  }
  DeviceTensor clone(cudaStream_t S) const {
    DeviceTensor D(Dims);
    D.copyFrom(*this, S);
    return D;
  }
  /// Copies \p X's elements (same count) into this tensor.
  void copyFrom(const DeviceTensor &X, cudaStream_t S) {
    assert(X.numel() == numel() && "DeviceTensor::copyFrom: size mismatch");
    if (Ptr && X.Ptr)
      PFC_CUDA_CHECK(cudaMemcpyAsync(data(), X.data(), bytes(), cudaMemcpyDeviceToDevice, S));
  }
  /// Copies host tensor \p X (same count) into this tensor.
  void copyFrom(const Tensor<T> &X, cudaStream_t S) {
    assert(X.numel() == numel() && "DeviceTensor::copyFrom: size mismatch");
    if (Ptr)
      PFC_CUDA_CHECK(cudaMemcpyAsync(data(), X.data(), bytes(), cudaMemcpyHostToDevice, S));
  }
  void zero(cudaStream_t S) {
    if (Ptr)
      PFC_CUDA_CHECK(cudaMemsetAsync(data(), 0, bytes(), S));
  }

  const std::vector<int64_t> &shape() const { return Dims; }
  int64_t numel() const {
    int64_t N = 1;
    for (int64_t D : Dims)
      N *= D;
    return Dims.empty() ? 0 : N;
  }
  bool empty() const { return numel() == 0; }
  int64_t rows() const { return Dims.empty() ? 0 : numel() / Dims.back(); }
  int64_t cols() const { return Dims.empty() ? 0 : Dims.back(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(T); }
  T *data() { return Ptr.get(); }
  const T *data() const { return Ptr.get(); }
  void reshape(std::vector<int64_t> Shape) {
    DeviceTensor Check;
    Check.Dims = Shape;
    assert(Check.numel() == numel() && "reshape changes the element count");
    Dims = std::move(Shape);
  }

private:
  struct Free {
    void operator()(T *P) const { PFC_CUDA_CHECK(cudaFree(P)); }
  };
  std::vector<int64_t> Dims;
  std::unique_ptr<T, Free> Ptr;
};

} // namespace pfc::interp::cuda

#endif
