//===- Lane.h - one plan device's CUDA stream and library handles ----------===//
//
// A lane is what one plan device of the CUDA backend issues work to: a
// non-blocking CUDA stream, a cuBLAS and a cuSOLVER handle bound to it, a
// device int for cuSOLVER's info output and a reusable workspace. cuBLAS
// and cuSOLVER handles must not be shared between host threads, so each
// plan device (one host thread in the walker) owns one lane; tests use one.
// All plan devices share the one GPU (device 0).
//
// fp32 GEMMs use CUBLAS_DEFAULT_MATH (no TF32), so fp32 results are those of
// IEEE single precision, like the CPU backend's.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_LANE_H
#define PFC_BACKENDS_INTERP_CUDA_LANE_H

#include "CudaCheck.h"

#include <memory>

namespace pfc::interp::cuda {

/// Number of CUDA devices; 0 with \p Why set ("no CUDA device found: ...")
/// when there is none or the driver cannot be reached.
int deviceCount(std::string *Why = nullptr);
/// Device 0's name and memory, e.g. "NVIDIA H100 80GB HBM3 (79.1 GiB, sm_90)".
std::string deviceName();

class Lane {
public:
  /// A lane on device 0; null with the failure recorded (CudaCheck.h).
  static std::unique_ptr<Lane> create();
  ~Lane();
  Lane(const Lane &) = delete;
  Lane &operator=(const Lane &) = delete;

  cudaStream_t stream() const { return Stream; }
  cublasHandle_t blas() const { return Blas; }
  cusolverDnHandle_t solver() const { return Solver; }
  int *info() const { return Info; }
  /// At least \p Bytes of device workspace (grown on demand, kept).
  void *workspace(size_t Bytes);
  /// Waits for the lane's work; false with the failure recorded.
  bool sync();

private:
  Lane() = default;
  cudaStream_t Stream = nullptr;
  cublasHandle_t Blas = nullptr;
  cusolverDnHandle_t Solver = nullptr;
  int *Info = nullptr;
  void *Work = nullptr;
  size_t WorkBytes = 0;
};

} // namespace pfc::interp::cuda

#endif
