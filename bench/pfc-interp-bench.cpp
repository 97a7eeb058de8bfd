//===- pfc-interp-bench.cpp - how fast the CPU interpreter computes --------===//
//
// Two tables, fp32 and fp64, for a few model sizes:
//
//  1. GEMMs: every product shape a block's Linear and attention layers and
//     K-FAC's curvature use, through the interpreter's wrappers
//     (backends/interp/Blas.h gemm, gram) and through OpenBLAS's cblas_?gemm
//     called directly with the same arguments; achieved GFLOP/s of both and
//     their ratio (1.00: the wrapper costs nothing). A gram (Aᵀ A, SYRK plus
//     mirroring a triangle) is compared with the GEMM that would compute the
//     same product, both counted as 2·rows·n² flops.
//  2. Training steps: forward, backward and SGD step of the whole model for
//     one micro-batch on one thread, as one plan device runs them; tokens/s
//     and the model flops achieved (3 x forward GEMM flops per step).
//
// Each figure is the best of 5 timed runs of at least 20 ms (--quick: 5 ms,
// the smallest model only), so that load from other processes on the machine
// costs as little as it can. OpenBLAS runs one thread, as in pfc-run.
// docs/performance.md ("Interpreter") has measured figures.
//
//===----------------------------------------------------------------------===//
#include "backends/interp/Blas.h"
#include "backends/interp/Model.h"
#include "backends/interp/Optimizer.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace pfc::interp;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  bool Quick = false;
};

struct Size {
  const char *Name;
  int32_t Hidden, Ffn, Heads, Seq, MicroBatch, Layers, Vocab;
};

constexpr Size Sizes[] = {
    {"small", 128, 512, 4, 64, 4, 4, 256},
    {"medium", 256, 1024, 8, 128, 4, 4, 256},
    {"large", 512, 2048, 8, 128, 8, 4, 256},
};

/// Seconds per call of \p Body: the best of 5 runs of at least \p MinS each.
template <typename F> double bestSeconds(F Body, double MinS) {
  double Best = 1e30;
  for (int Run = 0; Run < 5; ++Run) {
    int64_t Calls = 0;
    const auto Start = Clock::now();
    double S;
    do {
      Body();
      ++Calls;
      S = std::chrono::duration<double>(Clock::now() - Start).count();
    } while (S < MinS);
    Best = std::min(Best, S / double(Calls));
  }
  return Best;
}

void cblasGemm(Trans TA, Trans TB, int M, int N, int K, const float *A, int Lda, const float *B,
               int Ldb, float *C, int Ldc) {
  cblas_sgemm(CblasRowMajor, TA == Trans::No ? CblasNoTrans : CblasTrans,
              TB == Trans::No ? CblasNoTrans : CblasTrans, M, N, K, 1.0f, A, Lda, B, Ldb, 0.0f,
              C, Ldc);
}
void cblasGemm(Trans TA, Trans TB, int M, int N, int K, const double *A, int Lda,
               const double *B, int Ldb, double *C, int Ldc) {
  cblas_dgemm(CblasRowMajor, TA == Trans::No ? CblasNoTrans : CblasTrans,
              TB == Trans::No ? CblasNoTrans : CblasTrans, M, N, K, 1.0, A, Lda, B, Ldb, 0.0, C,
              Ldc);
}

/// One product: op(A) M x K times op(B) K x N, row-major with the leading
/// dimensions the interpreter uses (Lda > K for a head's slice of Q).
struct Shape {
  std::string Name;
  Trans TA, TB;
  int M, N, K, Lda, Ldb;
  bool Gram = false; ///< Aᵀ A with A of K rows and N columns
};

std::vector<Shape> shapesOf(const Size &S) {
  const int T = S.MicroBatch * S.Seq, H = S.Hidden, F = S.Ffn, D = H / S.Heads, Q = S.Seq;
  return {
      {"linear fwd h->h", Trans::No, Trans::Yes, T, H, H, H, H},
      {"linear fwd h->ffn", Trans::No, Trans::Yes, T, F, H, H, H},
      {"linear fwd ffn->h", Trans::No, Trans::Yes, T, H, F, F, F},
      {"linear dX ffn->h", Trans::No, Trans::No, T, F, H, H, F},
      {"linear dW h->ffn", Trans::Yes, Trans::No, F, H, T, F, H},
      {"attn scores QK^T", Trans::No, Trans::Yes, Q, Q, D, H, H},
      {"attn P.V", Trans::No, Trans::No, Q, D, Q, Q, H},
      {"kfac A gram h+1", Trans::Yes, Trans::No, H + 1, H + 1, T, H + 1, H + 1, true},
      {"kfac B gram ffn", Trans::Yes, Trans::No, F, F, T, F, F, true},
  };
}

template <typename T> void gemmTable(const Size &S, const Options &O, const char *Type) {
  const double MinS = O.Quick ? 0.005 : 0.02;
  for (const Shape &Sh : shapesOf(S)) {
    const int64_t ARows = Sh.TA == Trans::No ? Sh.M : Sh.K;
    const int64_t BRows = Sh.TB == Trans::No ? Sh.K : Sh.N;
    std::vector<T> A(size_t(ARows * Sh.Lda), T(0.5)), B(size_t(BRows * Sh.Ldb), T(0.25));
    std::vector<T> C(size_t(Sh.M) * Sh.N);
    const double Flops = 2.0 * Sh.M * Sh.N * Sh.K;
    double Ours, Theirs;
    if (Sh.Gram) {
      Ours = bestSeconds([&] { gram(Sh.K, Sh.N, T(1), A.data(), Sh.Lda, T(0), C.data()); }, MinS);
      Theirs = bestSeconds(
          [&] {
            cblasGemm(Trans::Yes, Trans::No, Sh.N, Sh.N, Sh.K, A.data(), Sh.Lda, A.data(),
                      Sh.Lda, C.data(), Sh.N);
          },
          MinS);
    } else {
      Ours = bestSeconds(
          [&] {
            gemm(Sh.TA, Sh.TB, Sh.M, Sh.N, Sh.K, T(1), A.data(), Sh.Lda, B.data(), Sh.Ldb, T(0),
                 C.data(), Sh.N);
          },
          MinS);
      Theirs = bestSeconds(
          [&] {
            cblasGemm(Sh.TA, Sh.TB, Sh.M, Sh.N, Sh.K, A.data(), Sh.Lda, B.data(), Sh.Ldb,
                      C.data(), Sh.N);
          },
          MinS);
    }
    std::printf("%-7s %-5s %-18s %5d %5d %5d %10.1f %10.1f %7.2f\n", S.Name, Type,
                Sh.Name.c_str(), Sh.M, Sh.N, Sh.K, Flops / Ours / 1e9, Flops / Theirs / 1e9,
                Theirs / Ours);
  }
}

template <typename T> void stepRow(const Size &S, const Options &O, const char *Type) {
  ModelConfig C;
  C.Layers = S.Layers, C.Hidden = S.Hidden, C.Ffn = S.Ffn, C.Heads = S.Heads, C.Seq = S.Seq;
  C.Vocab = S.Vocab, C.MicroBatch = S.MicroBatch, C.Seed = 1;
  Model<T> M(C);
  SgdOptions SO;
  SO.Lr = 1e-3;
  auto Opt = createSgd(M.params(), SO);
  const Batch B = syntheticBatch(C, 1, 0, C.MicroBatch);
  const T Scale = T(1) / static_cast<T>(B.Tokens.size());
  const double Seconds = bestSeconds(
      [&] {
        M.zeroGrad();
        M.forward(0, M.numLayers(), 0, B, {});
        M.backward(0, M.numLayers(), 0, {}, Scale);
        Opt->step();
      },
      O.Quick ? 0.005 : 0.05);
  const double Tokens = double(B.Tokens.size()), H = S.Hidden, F = S.Ffn;
  const double FwdFlops = Tokens * (2 * (4 * H * H + 2 * H * F) * S.Layers +
                                    4.0 * S.Seq * H * S.Layers + 2 * H * S.Vocab);
  std::printf("%-7s %-5s %6d %6d %6d %6d %10.2f %12.0f %10.1f\n", S.Name, Type, S.Layers,
              S.Hidden, S.Seq, S.MicroBatch, Seconds * 1e3, Tokens / Seconds,
              3 * FwdFlops / Seconds / 1e9);
}

} // namespace

int main(int Argc, char **Argv) {
  Options O;
  for (int I = 1; I < Argc; ++I) {
    if (!std::strcmp(Argv[I], "--quick")) {
      O.Quick = true;
    } else if (!std::strcmp(Argv[I], "--help") || !std::strcmp(Argv[I], "-h")) {
      std::printf(
          "pfc-interp-bench: GFLOP/s of the CPU interpreter's GEMMs against OpenBLAS called\n"
          "directly, and tokens/s of a training step (forward, backward, SGD), fp32 and fp64.\n\n"
          "  pfc-interp-bench [--quick]\n\n"
          "  --quick  the smallest model only, shorter timed runs (a smoke test)\n\n"
          "Model sizes (blocks x hidden, ffn, heads, sequence x micro-batch, vocabulary 256):\n");
      for (const Size &S : Sizes)
        std::printf("  %-7s %d x %d, %d, %d, %d x %d\n", S.Name, S.Layers, S.Hidden, S.Ffn,
                    S.Heads, S.Seq, S.MicroBatch);
      std::printf("Each figure is the best of 5 timed runs; OpenBLAS runs one thread.\n");
      return 0;
    } else {
      std::fprintf(stderr, "pfc-interp-bench: error: unknown argument '%s'; use --quick or "
                           "--help\n",
                   Argv[I]);
      return 2;
    }
  }
  setBlasThreads(1);
  const size_t NumSizes = O.Quick ? 1 : std::size(Sizes);
  std::printf("pfc-interp-bench: OpenBLAS %s, 1 thread; best of 5 runs%s\n\n",
              openblas_get_config(), O.Quick ? " (quick)" : "");
  std::printf("GEMMs: interpreter wrapper (Blas.h) against cblas_?gemm called directly\n");
  std::printf("%-7s %-5s %-18s %5s %5s %5s %10s %10s %7s\n", "model", "type", "product", "M",
              "N", "K", "pfc-GF/s", "blas-GF/s", "ratio");
  for (size_t I = 0; I < NumSizes; ++I) {
    gemmTable<float>(Sizes[I], O, "fp32");
    gemmTable<double>(Sizes[I], O, "fp64");
  }
  std::printf("\nTraining step of one micro-batch on one thread (forward, backward, SGD)\n");
  std::printf("%-7s %-5s %6s %6s %6s %6s %10s %12s %10s\n", "model", "type", "blocks", "hidden",
              "seq", "mb", "step-ms", "tokens/s", "GFLOP/s");
  for (size_t I = 0; I < NumSizes; ++I) {
    stepRow<float>(Sizes[I], O, "fp32");
    stepRow<double>(Sizes[I], O, "fp64");
  }
  return 0;
}
