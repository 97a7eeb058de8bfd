//===- pfc-cuda-bench.cpp - TFLOP/s of the CUDA backend's GEMMs ------------===//
//
// The GEMM shapes one Transformer block's training step issues on the GPU
// (forward Y = X Wᵀ, input gradient dX = dY W and weight gradient dW = dYᵀ X
// of the attention projections and the two MLP layers; per-head attention
// products as strided-batched GEMMs; K-FAC's Aᵀ A), through the CUDA
// backend's wrappers (backends/interp/cuda/CudaBlas.h), in fp32 (no TF32)
// and fp64. Each line gives the mean time of --reps timed calls after two
// warm-up calls (CUDA events on the lane's stream) and the TFLOP/s, and the
// share of the rate cuBLAS reaches on a large square GEMM of the same
// precision ("peak", measured first), i.e. how well the model's shapes fill
// the GPU. Sizes default to BERT-Large (hidden 1024, ffn 4096, 16 heads,
// 32 sequences of 128 tokens). Exits 3 without a GPU.
//
//===----------------------------------------------------------------------===//
#include "backends/interp/Random.h"
#include "backends/interp/cuda/CudaBlas.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

using namespace pfc::interp;
using namespace pfc::interp::cuda;

namespace {

struct Sizes {
  int64_t Hidden = 1024, Ffn = 4096, Heads = 16, Seq = 128, Sequences = 32, Square = 8192;
  int Reps = 20;
};

/// Mean ms of one call of \p F over \p Reps calls (after two warm-ups).
double timeMs(Lane &L, int Reps, const std::function<void()> &F) {
  cudaEvent_t Begin, End;
  PFC_CUDA_CHECK(cudaEventCreate(&Begin));
  PFC_CUDA_CHECK(cudaEventCreate(&End));
  F(), F();
  PFC_CUDA_CHECK(cudaEventRecord(Begin, L.stream()));
  for (int I = 0; I < Reps; ++I)
    F();
  PFC_CUDA_CHECK(cudaEventRecord(End, L.stream()));
  PFC_CUDA_CHECK(cudaEventSynchronize(End));
  float Ms = 0;
  PFC_CUDA_CHECK(cudaEventElapsedTime(&Ms, Begin, End));
  PFC_CUDA_CHECK(cudaEventDestroy(Begin));
  PFC_CUDA_CHECK(cudaEventDestroy(End));
  return double(Ms) / Reps;
}

/// N(0, 1) values (random data: GPU clocks can depend on the operands).
template <typename T> DeviceTensor<T> randomBuffer(Lane &L, int64_t N, uint64_t Seed) {
  Tensor<T> X({N});
  Rng R(Seed);
  fillNormal(X, R, 1.0);
  DeviceTensor<T> D = DeviceTensor<T>::upload(X, L.stream());
  L.sync();
  return D;
}

template <typename T> bool table(Lane &L, const Sizes &Z, const char *Name) {
  const int64_t T_ = Z.Sequences * Z.Seq, H = Z.Hidden, F = Z.Ffn, D = H / Z.Heads;
  const int64_t Big = std::max({T_ * F, F * H, Z.Square * Z.Square, Z.Heads * Z.Seq * Z.Seq});
  DeviceTensor<T> A = randomBuffer<T>(L, Big, 1), B = randomBuffer<T>(L, Big, 2),
                  C = randomBuffer<T>(L, Big, 3);
  double Peak = 0;
  auto Line = [&](const char *What, int64_t M, int64_t N, int64_t K, int64_t Batch,
                  const std::function<void()> &Fn) {
    const double Ms = timeMs(L, Z.Reps, Fn);
    const double Tflops = 2.0 * double(M) * double(N) * double(K) * double(Batch) / (Ms * 1e9);
    if (Peak == 0)
      Peak = Tflops;
    std::printf("%-5s %-30s %6lld %6lld %6lld %6lld %9.4f %8.2f %7.1f%%\n", Name, What,
                (long long)M, (long long)N, (long long)K, (long long)Batch, Ms, Tflops,
                100 * Tflops / Peak);
  };
  const int64_t S = Z.Square;
  Line("peak: square GEMM", S, S, S, 1, [&] {
    gemm(L, Trans::No, Trans::No, S, S, S, T(1), A.data(), S, B.data(), S, T(0), C.data(), S);
  });
  for (auto [What, In, Out] : {std::tuple{"qkv/out", H, H}, {"fc1", H, F}, {"fc2", F, H}}) {
    Line(fmt::format("{} forward Y = X Wt", What).c_str(), T_, Out, In, 1, [&, In = In, Out = Out] {
      gemm(L, Trans::No, Trans::Yes, T_, Out, In, T(1), A.data(), In, B.data(), In, T(0),
           C.data(), Out);
    });
    Line(fmt::format("{} dX = dY W", What).c_str(), T_, In, Out, 1, [&, In = In, Out = Out] {
      gemm(L, Trans::No, Trans::No, T_, In, Out, T(1), A.data(), Out, B.data(), In, T(0),
           C.data(), In);
    });
    Line(fmt::format("{} dW += dYt X", What).c_str(), Out, In, T_, 1, [&, In = In, Out = Out] {
      gemm(L, Trans::Yes, Trans::No, Out, In, T_, T(1), A.data(), Out, B.data(), In, T(1),
           C.data(), In);
    });
  }
  Line("attention S = Q Kt (per head)", Z.Seq, Z.Seq, D, Z.Heads * Z.Sequences, [&] {
    for (int64_t Bi = 0; Bi < Z.Sequences; ++Bi)
      gemmStridedBatched(L, Trans::No, Trans::Yes, Z.Seq, Z.Seq, D, T(1),
                         A.data() + Bi * Z.Seq * H, H, D, B.data() + Bi * Z.Seq * H, H, D, T(0),
                         C.data(), Z.Seq, Z.Seq * Z.Seq, Z.Heads);
  });
  Line("attention O = P V (per head)", Z.Seq, D, Z.Seq, Z.Heads * Z.Sequences, [&] {
    for (int64_t Bi = 0; Bi < Z.Sequences; ++Bi)
      gemmStridedBatched(L, Trans::No, Trans::No, Z.Seq, D, Z.Seq, T(1), A.data(), Z.Seq,
                         Z.Seq * Z.Seq, B.data() + Bi * Z.Seq * H, H, D, T(0),
                         C.data() + Bi * Z.Seq * H, H, D, Z.Heads);
  });
  Line("K-FAC A += At A (fc2 input)", F, F, T_, 1, [&] {
    gram(L, T_, F, T(1), A.data(), F, T(1), C.data());
  });
  const std::string Failure = takeFailure();
  if (!Failure.empty())
    std::fprintf(stderr, "pfc-cuda-bench: error: CUDA: %s\n", Failure.c_str());
  return Failure.empty();
}

} // namespace

int main(int Argc, char **Argv) {
  Sizes Z;
  for (int I = 1; I < Argc; ++I) {
    auto Value = [&](int64_t &Out) {
      if (I + 1 >= Argc || std::atoll(Argv[I + 1]) < 1) {
        std::fprintf(stderr, "pfc-cuda-bench: error: %s needs a positive number\n", Argv[I]);
        std::exit(2);
      }
      Out = std::atoll(Argv[++I]);
    };
    int64_t Reps = Z.Reps;
    if (!std::strcmp(Argv[I], "--hidden")) Value(Z.Hidden);
    else if (!std::strcmp(Argv[I], "--ffn")) Value(Z.Ffn);
    else if (!std::strcmp(Argv[I], "--heads")) Value(Z.Heads);
    else if (!std::strcmp(Argv[I], "--seq")) Value(Z.Seq);
    else if (!std::strcmp(Argv[I], "--sequences")) Value(Z.Sequences);
    else if (!std::strcmp(Argv[I], "--square")) Value(Z.Square);
    else if (!std::strcmp(Argv[I], "--reps")) Value(Reps), Z.Reps = static_cast<int>(Reps);
    else {
      std::fprintf(stderr,
                   "usage: pfc-cuda-bench [--hidden N] [--ffn N] [--heads N] [--seq N]\n"
                   "                      [--sequences N] [--square N] [--reps N]\n");
      return 2;
    }
  }
  if (Z.Hidden % Z.Heads != 0) {
    std::fprintf(stderr, "pfc-cuda-bench: error: --heads must divide --hidden\n");
    return 2;
  }
  std::string Why;
  if (deviceCount(&Why) == 0) {
    std::printf("pfc-cuda-bench: %s\n", Why.c_str());
    return 3;
  }
  auto L = Lane::create();
  if (!L) {
    std::fprintf(stderr, "pfc-cuda-bench: error: CUDA: %s\n", takeFailure().c_str());
    return 3;
  }
  std::printf("pfc-cuda-bench: %s; hidden %lld, ffn %lld, %lld heads, %lld x %lld tokens, "
              "%d reps\n",
              deviceName().c_str(), (long long)Z.Hidden, (long long)Z.Ffn, (long long)Z.Heads,
              (long long)Z.Sequences, (long long)Z.Seq, Z.Reps);
  std::printf("%-5s %-30s %6s %6s %6s %6s %9s %8s %8s\n", "prec", "GEMM", "M", "N", "K", "batch",
              "ms", "TFLOP/s", "of peak");
  const bool Ok = table<float>(*L, Z, "fp32") && table<double>(*L, Z, "fp64");
  return Ok ? 0 : 3;
}
