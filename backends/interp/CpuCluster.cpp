//===- CpuCluster.cpp - the CPU interpreter described as a pfc cluster -----===//
#include "CpuCluster.h"

#include "Blas.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace pfc::interp {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point Start) {
  return std::chrono::duration<double>(Clock::now() - Start).count();
}

/// Best of several runs of \p Body, each repeated until it has taken 20 ms;
/// returns seconds per call (the best run is the one least disturbed).
template <typename F> double bestSeconds(F Body) {
  double Best = 1e30;
  for (int Run = 0; Run < 5; ++Run) {
    int64_t Calls = 0;
    const auto Start = Clock::now();
    do
      Body(), ++Calls;
    while (secondsSince(Start) < 0.02);
    Best = std::min(Best, secondsSince(Start) / double(Calls));
  }
  return Best;
}

template <typename T> double gemmGflops(int64_t M, int64_t N, int64_t K) {
  std::vector<T> A(M * K, T(0.5)), B(K * N, T(0.25)), C(M * N);
  const double S = bestSeconds([&] {
    gemm(Trans::No, Trans::No, M, N, K, T(1), A.data(), K, B.data(), N, T(0), C.data(), N);
  });
  return 2.0 * double(M) * double(N) * double(K) / S / 1e9;
}

double copyGBps() {
  const size_t Bytes = size_t(64) << 20; // past the caches
  std::vector<char> From(Bytes, 1), To(Bytes);
  const double S = bestSeconds([&] { std::memcpy(To.data(), From.data(), Bytes); });
  return 2.0 * double(Bytes) / S / 1e9; // read + write
}

/// Half the round trip of a token passed between two threads through a
/// mutex and a condition variable.
double handOffUs() {
  std::mutex Mu;
  std::condition_variable Cv;
  int Turn = 0;
  constexpr int Trips = 2000;
  std::thread Peer([&] {
    for (int I = 0; I < Trips; ++I) {
      std::unique_lock<std::mutex> Lock(Mu);
      Cv.wait(Lock, [&] { return Turn == 1; });
      Turn = 0;
      Cv.notify_all();
    }
  });
  const auto Start = Clock::now();
  for (int I = 0; I < Trips; ++I) {
    std::unique_lock<std::mutex> Lock(Mu);
    Turn = 1;
    Cv.notify_all();
    Cv.wait(Lock, [&] { return Turn == 0; });
  }
  const double S = secondsSince(Start);
  Peer.join();
  return S / (2.0 * Trips) * 1e6;
}

} // namespace

CpuRates measureCpu(const ModelConfig &C) {
  setBlasThreads(1);
  CpuRates R;
  const int64_t Rows = int64_t(C.MicroBatch) * C.Seq;
  R.GflopsFp32 = gemmGflops<float>(Rows, C.Ffn, C.Hidden);
  R.GflopsFp64 = gemmGflops<double>(Rows, C.Ffn, C.Hidden);
  R.CopyGBps = copyGBps();
  R.HandOffUs = handOffUs();
  R.MemoryGib = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)) / (1 << 30);
  R.Cores = std::max(1u, std::thread::hardware_concurrency());
  return R;
}

std::string cpuClusterTextproto(const CpuRates &R, int32_t Devices) {
  const int32_t PerNode = std::max(Devices, R.Cores);
  return fmt::format(
      "# The pfc-run CPU interpreter on this machine, measured by pfc-run --cluster-out.\n"
      "# A device is a thread ({} cores here: more devices than cores time-share them);\n"
      "# links are the in-process channel (latency: thread hand-off; bandwidth: memory\n"
      "# copy). Peaks: one-thread OpenBLAS GEMM at the model's block shape. Memory:\n"
      "# the machine's, shared by the devices.\n"
      "name: \"cpu-interpreter\"\n"
      "device {{\n"
      "  name: \"CPU interpreter thread\"\n"
      "  peak_tflops_fp32: {:.6f}\n"
      "  peak_tflops_fp16: {:.6f}\n"
      "  peak_tflops_fp64: {:.6f}\n"
      "  memory_gib: {:.1f}\n"
      "  memory_bandwidth_gbps: {:.2f}\n"
      "  compute_efficiency: 1\n"
      "}}\n"
      "num_nodes: 1\n"
      "gpus_per_node: {}\n"
      "intra_node {{ bandwidth_gbps: {:.2f} latency_us: {:.2f} }}\n",
      R.Cores, R.GflopsFp32 / 1e3, R.GflopsFp32 / 1e3, R.GflopsFp64 / 1e3,
      R.MemoryGib / PerNode, R.CopyGBps, PerNode, R.CopyGBps, R.HandOffUs);
}

} // namespace pfc::interp
