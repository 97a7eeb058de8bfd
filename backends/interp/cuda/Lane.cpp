//===- Lane.cpp - one plan device's CUDA stream and library handles --------===//
#include "Lane.h"

#include <cstdio>

namespace pfc::interp::cuda {

int deviceCount(std::string *Why) {
  int N = 0;
  const cudaError_t E = cudaGetDeviceCount(&N);
  if (E != cudaSuccess || N == 0) {
    if (Why)
      *Why = E != cudaSuccess ? std::string("no CUDA device found: ") + cudaGetErrorString(E)
                              : "no CUDA device found";
    (void)cudaGetLastError(); // clear the runtime's last error
    return 0;
  }
  return N;
}

std::string deviceName() {
  cudaDeviceProp Prop{};
  if (!PFC_CUDA_CHECK(cudaGetDeviceProperties(&Prop, 0)))
    return "an unknown CUDA device";
  char Buf[64];
  std::snprintf(Buf, sizeof Buf, " (%.1f GiB, sm_%d%d)",
                static_cast<double>(Prop.totalGlobalMem) / (1024.0 * 1024 * 1024), Prop.major,
                Prop.minor);
  return std::string(Prop.name) + Buf;
}

std::unique_ptr<Lane> Lane::create() {
  std::unique_ptr<Lane> L(new Lane());
  bool Ok = PFC_CUDA_CHECK(cudaSetDevice(0)) &&
            PFC_CUDA_CHECK(cudaStreamCreateWithFlags(&L->Stream, cudaStreamNonBlocking)) &&
            PFC_CUDA_CHECK(cublasCreate(&L->Blas)) &&
            PFC_CUDA_CHECK(cublasSetStream(L->Blas, L->Stream)) &&
            PFC_CUDA_CHECK(cublasSetMathMode(L->Blas, CUBLAS_DEFAULT_MATH)) &&
            PFC_CUDA_CHECK(cusolverDnCreate(&L->Solver)) &&
            PFC_CUDA_CHECK(cusolverDnSetStream(L->Solver, L->Stream)) &&
            PFC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void **>(&L->Info), sizeof(int)));
  if (!Ok)
    return nullptr;
  return L;
}

Lane::~Lane() {
  if (Stream)
    PFC_CUDA_CHECK(cudaStreamSynchronize(Stream));
  if (Work)
    PFC_CUDA_CHECK(cudaFree(Work));
  if (Info)
    PFC_CUDA_CHECK(cudaFree(Info));
  if (Solver)
    PFC_CUDA_CHECK(cusolverDnDestroy(Solver));
  if (Blas)
    PFC_CUDA_CHECK(cublasDestroy(Blas));
  if (Stream)
    PFC_CUDA_CHECK(cudaStreamDestroy(Stream));
}

void *Lane::workspace(size_t Bytes) {
  if (Bytes <= WorkBytes)
    return Work;
  if (Work) {
    PFC_CUDA_CHECK(cudaStreamSynchronize(Stream));
    PFC_CUDA_CHECK(cudaFree(Work));
    Work = nullptr, WorkBytes = 0;
  }
  if (PFC_CUDA_CHECK(cudaMalloc(&Work, Bytes)))
    WorkBytes = Bytes;
  return Work;
}

bool Lane::sync() { return PFC_CUDA_CHECK(cudaStreamSynchronize(Stream)); }

} // namespace pfc::interp::cuda
