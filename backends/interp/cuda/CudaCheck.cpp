//===- CudaCheck.cpp - status checks for CUDA, cuBLAS and cuSOLVER calls ---===//
#include "CudaCheck.h"

#include <mutex>

namespace pfc::interp::cuda {
namespace {
std::mutex FailureMu;
std::string Failure;

bool report(const char *Call, const char *File, int Line, const std::string &Text) {
  recordFailure(std::string(Call) + " failed at " + File + ":" + std::to_string(Line) + ": " +
                Text);
  return false;
}

const char *solverStatusName(cusolverStatus_t S) {
  switch (S) {
  case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
  case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
  case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
  case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
  case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
  case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
  case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
  default: return "cuSOLVER error";
  }
}
} // namespace

bool check(cudaError_t E, const char *Call, const char *File, int Line) {
  if (E == cudaSuccess)
    return true;
  return report(Call, File, Line,
                std::string(cudaGetErrorName(E)) + " (" + cudaGetErrorString(E) + ")");
}

bool check(cublasStatus_t S, const char *Call, const char *File, int Line) {
  if (S == CUBLAS_STATUS_SUCCESS)
    return true;
  return report(Call, File, Line, cublasGetStatusString(S));
}

bool check(cusolverStatus_t S, const char *Call, const char *File, int Line) {
  if (S == CUSOLVER_STATUS_SUCCESS)
    return true;
  return report(Call, File, Line,
                std::string(solverStatusName(S)) + " (" + std::to_string(int(S)) + ")");
}

void recordFailure(std::string Message) {
  std::lock_guard<std::mutex> Lock(FailureMu);
  if (Failure.empty())
    Failure = std::move(Message);
}

bool failed() {
  std::lock_guard<std::mutex> Lock(FailureMu);
  return !Failure.empty();
}

std::string takeFailure() {
  std::lock_guard<std::mutex> Lock(FailureMu);
  std::string F = std::move(Failure);
  Failure.clear();
  return F;
}

} // namespace pfc::interp::cuda
