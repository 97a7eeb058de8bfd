//===- CudaCheck.h - status checks for CUDA, cuBLAS and cuSOLVER calls -----===//
//
// Every CUDA runtime, cuBLAS and cuSOLVER call of the CUDA backend goes
// through PFC_CUDA_CHECK, and every kernel launch is followed by
// PFC_CUDA_CHECK(cudaGetLastError()). A failed call records a message
// naming the call, its source location and the library's error text; the
// first such failure sticks (later ones are dropped) until takeFailure()
// collects it. The executor collects after every task and fails the step,
// so no error passes silently. Plain C++ (no LLVM): nvcc compiles it too.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDACHECK_H
#define PFC_BACKENDS_INTERP_CUDA_CUDACHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>

namespace pfc::interp::cuda {

/// True on success; otherwise records "<Call> failed at <File>:<Line>: <text>".
bool check(cudaError_t E, const char *Call, const char *File, int Line);
bool check(cublasStatus_t S, const char *Call, const char *File, int Line);
bool check(cusolverStatus_t S, const char *Call, const char *File, int Line);
/// Records \p Message as a failure (the first one sticks).
void recordFailure(std::string Message);
/// Whether a failure is recorded and not yet taken.
bool failed();
/// The recorded failure ("" if none), cleared.
std::string takeFailure();

} // namespace pfc::interp::cuda

#define PFC_CUDA_CHECK(X) ::pfc::interp::cuda::check((X), #X, __FILE__, __LINE__)

#endif
