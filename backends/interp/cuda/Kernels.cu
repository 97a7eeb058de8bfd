//===- Kernels.cu - the CUDA backend's own kernels -------------------------===//
//
// Row kernels (LayerNorm, softmax, cross-entropy) run one block of
// RowThreads per row with block-wide reductions (warp shuffles, then one
// warp over the warps' partials); element-wise kernels use grid-stride
// loops. Formulas: Kernels.h and the CPU files it names.
//
//===----------------------------------------------------------------------===//
#include "Kernels.h"

#include "CudaCheck.h"

#include <algorithm>
#include <cmath>

namespace pfc::interp::cuda {
namespace {

constexpr int RowThreads = 256;
constexpr int Threads = 256;
constexpr int64_t MaxBlocks = 4096;

int blocksFor(int64_t N) {
  return static_cast<int>(std::min<int64_t>((N + Threads - 1) / Threads, MaxBlocks));
}

/// Records a launch failure; call right after every launch.
void launched(const char *Kernel) {
  check(cudaGetLastError(), Kernel, __FILE__, __LINE__);
}

struct Add {
  template <typename T> __device__ T operator()(T A, T B) const { return A + B; }
};
struct Max {
  template <typename T> __device__ T operator()(T A, T B) const { return A > B ? A : B; }
};

/// Reduces \p V over the block (blockDim.x a multiple of 32, at most 1024);
/// every thread gets the result. \p Identity is the operation's neutral value.
template <typename T, typename Op> __device__ T blockReduce(T V, Op F, T Identity) {
  __shared__ T Partial[32];
  const int Lane = threadIdx.x % 32, Warp = threadIdx.x / 32;
  for (int Off = 16; Off > 0; Off /= 2)
    V = F(V, __shfl_down_sync(0xffffffffu, V, Off));
  if (Lane == 0)
    Partial[Warp] = V;
  __syncthreads();
  if (Warp == 0) {
    V = Lane < static_cast<int>(blockDim.x / 32) ? Partial[Lane] : Identity;
    for (int Off = 16; Off > 0; Off /= 2)
      V = F(V, __shfl_down_sync(0xffffffffu, V, Off));
    if (Lane == 0)
      Partial[0] = V;
  }
  __syncthreads();
  const T R = Partial[0];
  __syncthreads(); // Partial may be reused by the next reduction
  return R;
}

#define PFC_GRID_STRIDE(I, N)                                                                  \
  for (int64_t I = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; I < (N);       \
       I += static_cast<int64_t>(blockDim.x) * gridDim.x)

template <typename T> __global__ void axpyK(T *Y, const T *X, int64_t N, T Alpha) {
  PFC_GRID_STRIDE(I, N) Y[I] += Alpha * X[I];
}

template <typename T> __global__ void scaleK(T *X, int64_t N, T Alpha) {
  PFC_GRID_STRIDE(I, N) X[I] *= Alpha;
}

template <typename To, typename From> __global__ void castK(const From *X, To *Y, int64_t N) {
  PFC_GRID_STRIDE(I, N) Y[I] = static_cast<To>(X[I]);
}

template <typename T>
__global__ void broadcastRowsK(T *Y, const T *Row, int64_t Rows, int64_t Cols) {
  PFC_GRID_STRIDE(I, Rows * Cols) Y[I] = Row[I % Cols];
}

constexpr int64_t RowChunk = 64;

/// Out[c, j] (+)= Σ of rows [c·RowChunk, (c+1)·RowChunk) of column j.
template <typename T>
__global__ void columnChunkSumsK(T *Out, const T *X, int64_t Rows, int64_t Cols,
                                 int64_t Chunks, bool Accumulate) {
  PFC_GRID_STRIDE(I, Chunks * Cols) {
    const int64_t C = I / Cols, J = I % Cols;
    const int64_t End = Rows < (C + 1) * RowChunk ? Rows : (C + 1) * RowChunk;
    T Acc = Accumulate ? Out[I] : T(0);
    for (int64_t R = C * RowChunk; R < End; ++R)
      Acc += X[R * Cols + J];
    Out[I] = Acc;
  }
}

template <typename T> __global__ void multiplyK(const T *X, const T *Y, T *Z, int64_t N) {
  PFC_GRID_STRIDE(I, N) Z[I] = X[I] * Y[I];
}

/// Partial[block] = Σ over this block's share of i < N of A[i·IncA]·B[i]
/// (B null: of A[i·IncA]), in double. The grid is fixed for a given N, so
/// the sum's order, and so its rounding, is too.
template <typename T>
__global__ void partialSumsK(const T *A, int64_t IncA, const T *B, int64_t N, double *Partial) {
  double S = 0;
  PFC_GRID_STRIDE(I, N)
  S += static_cast<double>(A[I * IncA]) * (B ? static_cast<double>(B[I]) : 1.0);
  S = blockReduce(S, Add{}, 0.0);
  if (threadIdx.x == 0)
    Partial[blockIdx.x] = S;
}

__global__ void finishSumK(const double *Partial, int Count, double *Out) {
  double S = 0;
  for (int I = threadIdx.x; I < Count; I += blockDim.x)
    S += Partial[I];
  S = blockReduce(S, Add{}, 0.0);
  if (threadIdx.x == 0)
    *Out = S;
}

/// *Out = Σ A[i·IncA]·B[i] (B null: Σ A[i·IncA]) in double, on stream S.
template <typename T>
void sumProducts(const T *A, int64_t IncA, const T *B, int64_t N, double *Out, cudaStream_t S) {
  const int Blocks = std::max(1, std::min(blocksFor(N), 1024));
  double *Partial = nullptr;
  if (!PFC_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void **>(&Partial),
                                      static_cast<size_t>(Blocks) * sizeof(double), S)))
    return;
  partialSumsK<T><<<Blocks, Threads, 0, S>>>(A, IncA, B, N, Partial);
  launched("partialSumsK");
  finishSumK<<<1, Threads, 0, S>>>(Partial, Blocks, Out);
  launched("finishSumK");
  PFC_CUDA_CHECK(cudaFreeAsync(Partial, S));
}

template <typename T>
__global__ void layerNormForwardK(const T *X, const T *Gamma, const T *Beta, T *Y, T *Xhat,
                                  T *Rstd, int64_t H, T Eps) {
  const int64_t R = blockIdx.x;
  const T *Row = X + R * H;
  T Sum = 0;
  for (int64_t J = threadIdx.x; J < H; J += blockDim.x)
    Sum += Row[J];
  const T Mean = blockReduce(Sum, Add{}, T(0)) / T(H);
  T Sq = 0;
  for (int64_t J = threadIdx.x; J < H; J += blockDim.x)
    Sq += (Row[J] - Mean) * (Row[J] - Mean);
  const T Var = blockReduce(Sq, Add{}, T(0)) / T(H);
  const T Rs = T(1) / sqrt(Var + Eps);
  if (threadIdx.x == 0)
    Rstd[R] = Rs;
  for (int64_t J = threadIdx.x; J < H; J += blockDim.x) {
    const T N = (Row[J] - Mean) * Rs;
    Xhat[R * H + J] = N;
    Y[R * H + J] = Gamma[J] * N + Beta[J];
  }
}

template <typename T>
__global__ void layerNormBackwardK(const T *DY, const T *Xhat, const T *Rstd, const T *Gamma,
                                   T *DX, int64_t H) {
  const int64_t R = blockIdx.x;
  T SumG = 0, SumGX = 0;
  for (int64_t J = threadIdx.x; J < H; J += blockDim.x) {
    const T G = DY[R * H + J] * Gamma[J];
    SumG += G;
    SumGX += G * Xhat[R * H + J];
  }
  const T MeanG = blockReduce(SumG, Add{}, T(0)) / T(H);
  const T MeanGX = blockReduce(SumGX, Add{}, T(0)) / T(H);
  const T Rs = Rstd[R];
  for (int64_t J = threadIdx.x; J < H; J += blockDim.x)
    DX[R * H + J] = Rs * (DY[R * H + J] * Gamma[J] - MeanG - Xhat[R * H + J] * MeanGX);
}

constexpr double Sqrt2OverPi = 0.7978845608028654;
constexpr double Cubic = 0.044715;

template <typename T> __global__ void geluForwardK(const T *X, T *Y, int64_t N) {
  PFC_GRID_STRIDE(I, N) {
    const T V = X[I];
    Y[I] = T(0.5) * V * (T(1) + tanh(T(Sqrt2OverPi) * (V + T(Cubic) * V * V * V)));
  }
}

template <typename T> __global__ void geluBackwardK(const T *X, const T *DY, T *DX, int64_t N) {
  PFC_GRID_STRIDE(I, N) {
    const T V = X[I];
    const T Th = tanh(T(Sqrt2OverPi) * (V + T(Cubic) * V * V * V));
    const T DU = T(Sqrt2OverPi) * (T(1) + T(3 * Cubic) * V * V);
    DX[I] = DY[I] * (T(0.5) * (T(1) + Th) + T(0.5) * V * (T(1) - Th * Th) * DU);
  }
}

template <typename T> __global__ void causalSoftmaxForwardK(T *P, int64_t Seq) {
  const int64_t R = blockIdx.x, I = R % Seq;
  T *Row = P + R * Seq;
  T M = -INFINITY;
  for (int64_t J = threadIdx.x; J <= I; J += blockDim.x)
    M = M > Row[J] ? M : Row[J];
  M = blockReduce(M, Max{}, T(-INFINITY));
  T Sum = 0;
  for (int64_t J = threadIdx.x; J <= I; J += blockDim.x) {
    Row[J] = exp(Row[J] - M);
    Sum += Row[J];
  }
  Sum = blockReduce(Sum, Add{}, T(0));
  for (int64_t J = threadIdx.x; J < Seq; J += blockDim.x)
    Row[J] = J <= I ? Row[J] / Sum : T(0);
}

template <typename T>
__global__ void causalSoftmaxBackwardK(const T *P, T *DP, int64_t Seq, T Scale) {
  const int64_t R = blockIdx.x, I = R % Seq;
  const T *PRow = P + R * Seq;
  T *Row = DP + R * Seq;
  T Dot = 0;
  for (int64_t J = threadIdx.x; J <= I; J += blockDim.x)
    Dot += Row[J] * PRow[J];
  Dot = blockReduce(Dot, Add{}, T(0));
  for (int64_t J = threadIdx.x; J < Seq; J += blockDim.x)
    Row[J] = PRow[J] * (Row[J] - Dot) * Scale;
}

template <typename T>
__global__ void crossEntropyK(const T *Logits, const int32_t *Targets, T Scale, T *Loss,
                              T *DLogits, int64_t V) {
  const int64_t R = blockIdx.x;
  const T *Row = Logits + R * V;
  const int32_t Target = Targets[R];
  T M = -INFINITY;
  for (int64_t J = threadIdx.x; J < V; J += blockDim.x)
    M = M > Row[J] ? M : Row[J];
  M = blockReduce(M, Max{}, T(-INFINITY));
  T Sum = 0;
  for (int64_t J = threadIdx.x; J < V; J += blockDim.x)
    Sum += exp(Row[J] - M);
  Sum = blockReduce(Sum, Add{}, T(0));
  const T LogSum = log(Sum) + M;
  if (threadIdx.x == 0)
    Loss[R] = LogSum - Row[Target];
  if (DLogits)
    for (int64_t J = threadIdx.x; J < V; J += blockDim.x)
      DLogits[R * V + J] = Scale * exp(Row[J] - LogSum) - (J == Target ? Scale : T(0));
}

template <typename T>
__global__ void embeddingForwardK(const T *Token, const T *Position, const int32_t *Ids, T *Y,
                                  int64_t Rows, int64_t H, int64_t Seq) {
  PFC_GRID_STRIDE(I, Rows * H) {
    const int64_t R = I / H, J = I % H;
    Y[I] = Token[static_cast<int64_t>(Ids[R]) * H + J] + Position[(R % Seq) * H + J];
  }
}

template <typename T>
__global__ void embeddingTokenGradK(const T *DY, const int32_t *Csr, int64_t Unique, T *DToken,
                                    int64_t H) {
  const int32_t *Offsets = Csr + Unique, *RowList = Csr + 2 * Unique + 1;
  PFC_GRID_STRIDE(I, Unique * H) {
    const int64_t U = I / H, J = I % H;
    T *Out = DToken + static_cast<int64_t>(Csr[U]) * H + J;
    T Acc = *Out;
    for (int32_t K = Offsets[U]; K < Offsets[U + 1]; ++K)
      Acc += DY[static_cast<int64_t>(RowList[K]) * H + J];
    *Out = Acc;
  }
}

template <typename T>
__global__ void embeddingPositionGradK(const T *DY, T *DPosition, int64_t Rows, int64_t H,
                                       int64_t Seq) {
  PFC_GRID_STRIDE(I, Seq * H) {
    const int64_t Pos = I / H, J = I % H;
    T Acc = DPosition[I];
    for (int64_t R = Pos; R < Rows; R += Seq)
      Acc += DY[R * H + J];
    DPosition[I] = Acc;
  }
}

template <typename T> __global__ void appendOnesK(const T *X, T *Bar, int64_t Rows, int64_t In) {
  PFC_GRID_STRIDE(I, Rows * (In + 1)) {
    const int64_t R = I / (In + 1), J = I % (In + 1);
    Bar[I] = J < In ? X[R * In + J] : T(1);
  }
}

template <typename T>
__global__ void emaFoldK(T *Avg, const T *Sum, int64_t N, T Inv, T Decay, T OneMinusDecay,
                         bool First) {
  PFC_GRID_STRIDE(I, N) Avg[I] = First ? Sum[I] * Inv : Decay * Avg[I] + OneMinusDecay * Sum[I] * Inv;
}

template <typename T> __global__ void addDiagonalK(T *A, int64_t N, T V) {
  PFC_GRID_STRIDE(I, N) A[I * N + I] += V;
}

template <typename T> __global__ void mirrorLowerK(T *A, int64_t N) {
  PFC_GRID_STRIDE(K, N * N) {
    const int64_t I = K / N, J = K % N;
    if (J > I)
      A[K] = A[J * N + I];
  }
}

template <typename T>
__global__ void sgdMomentumK(T *P, const T *Dir, T *Buf, int64_t N, T Lr, T Momentum,
                             T WeightDecay) {
  PFC_GRID_STRIDE(I, N) {
    Buf[I] = Momentum * Buf[I] + Dir[I] + WeightDecay * P[I];
    P[I] -= Lr * Buf[I];
  }
}

template <typename T>
__global__ void adamWK(T *P, const T *G, T *M, T *V, int64_t N, double Lr, double Beta1,
                       double Beta2, double Eps, double WeightDecay, double C1, double C2) {
  PFC_GRID_STRIDE(I, N) {
    const double Gi = G[I];
    M[I] = static_cast<T>(Beta1 * M[I] + (1 - Beta1) * Gi);
    V[I] = static_cast<T>(Beta2 * V[I] + (1 - Beta2) * Gi * Gi);
    const double Update = (M[I] / C1) / (sqrt(V[I] / C2) + Eps);
    P[I] -= static_cast<T>(Lr * (Update + WeightDecay * P[I]));
  }
}

} // namespace

#define PFC_LAUNCH(Kernel, N, Stream, ...)                                                     \
  do {                                                                                         \
    if ((N) > 0) {                                                                             \
      Kernel<<<blocksFor(N), Threads, 0, Stream>>>(__VA_ARGS__);                               \
      launched(#Kernel);                                                                       \
    }                                                                                          \
  } while (false)

#define PFC_LAUNCH_ROWS(Kernel, Rows, Stream, ...)                                             \
  do {                                                                                         \
    if ((Rows) > 0) {                                                                          \
      Kernel<<<static_cast<unsigned>(Rows), RowThreads, 0, Stream>>>(__VA_ARGS__);            \
      launched(#Kernel);                                                                       \
    }                                                                                          \
  } while (false)

template <typename T> void axpy(T *Y, const T *X, int64_t N, T Alpha, cudaStream_t S) {
  PFC_LAUNCH(axpyK<T>, N, S, Y, X, N, Alpha);
}

template <typename T> void scale(T *X, int64_t N, T Alpha, cudaStream_t S) {
  PFC_LAUNCH(scaleK<T>, N, S, X, N, Alpha);
}

template <typename To, typename From> void cast(const From *X, To *Y, int64_t N, cudaStream_t S) {
  if (N > 0) {
    castK<To, From><<<blocksFor(N), Threads, 0, S>>>(X, Y, N);
    launched("castK");
  }
}

template <typename T>
void broadcastRows(T *Y, const T *Row, int64_t Rows, int64_t Cols, cudaStream_t S) {
  PFC_LAUNCH(broadcastRowsK<T>, Rows * Cols, S, Y, Row, Rows, Cols);
}

template <typename T>
void addColumnSums(T *Out, const T *X, int64_t Rows, int64_t Cols, cudaStream_t S) {
  const int64_t Chunks = (Rows + RowChunk - 1) / RowChunk;
  if (Chunks <= 1) {
    PFC_LAUNCH(columnChunkSumsK<T>, Cols, S, Out, X, Rows, Cols, int64_t(1), true);
    return;
  }
  T *Part = nullptr;
  if (!PFC_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void **>(&Part),
                                      static_cast<size_t>(Chunks * Cols) * sizeof(T), S)))
    return;
  PFC_LAUNCH(columnChunkSumsK<T>, Chunks * Cols, S, Part, X, Rows, Cols, Chunks, false);
  // The chunks' partial sums are the rows of Part; add them RowChunk at a time.
  for (int64_t C = 0; C < Chunks; C += RowChunk) {
    const int64_t N = std::min(RowChunk, Chunks - C);
    PFC_LAUNCH(columnChunkSumsK<T>, Cols, S, Out, Part + C * Cols, N, Cols, int64_t(1), true);
  }
  PFC_CUDA_CHECK(cudaFreeAsync(Part, S));
}

template <typename T> void multiply(const T *X, const T *Y, T *Z, int64_t N, cudaStream_t S) {
  PFC_LAUNCH(multiplyK<T>, N, S, X, Y, Z, N);
}

template <typename T> void dotDouble(const T *A, const T *B, int64_t N, double *Out,
                                     cudaStream_t S) {
  sumProducts<T>(A, 1, B, N, Out, S);
}

template <typename T>
void layerNormForward(const T *X, const T *Gamma, const T *Beta, T *Y, T *Xhat, T *Rstd,
                      int64_t Rows, int64_t H, double Eps, cudaStream_t S) {
  PFC_LAUNCH_ROWS(layerNormForwardK<T>, Rows, S, X, Gamma, Beta, Y, Xhat, Rstd, H, T(Eps));
}

template <typename T>
void layerNormBackward(const T *DY, const T *Xhat, const T *Rstd, const T *Gamma, T *DX,
                       int64_t Rows, int64_t H, cudaStream_t S) {
  PFC_LAUNCH_ROWS(layerNormBackwardK<T>, Rows, S, DY, Xhat, Rstd, Gamma, DX, H);
}

template <typename T> void geluForward(const T *X, T *Y, int64_t N, cudaStream_t S) {
  PFC_LAUNCH(geluForwardK<T>, N, S, X, Y, N);
}

template <typename T>
void geluBackward(const T *X, const T *DY, T *DX, int64_t N, cudaStream_t S) {
  PFC_LAUNCH(geluBackwardK<T>, N, S, X, DY, DX, N);
}

template <typename T> void causalSoftmaxForward(T *P, int64_t Rows, int64_t Seq, cudaStream_t S) {
  PFC_LAUNCH_ROWS(causalSoftmaxForwardK<T>, Rows, S, P, Seq);
}

template <typename T>
void causalSoftmaxBackward(const T *P, T *DP, int64_t Rows, int64_t Seq, T Scale,
                           cudaStream_t S) {
  PFC_LAUNCH_ROWS(causalSoftmaxBackwardK<T>, Rows, S, P, DP, Seq, Scale);
}

template <typename T>
void crossEntropy(const T *Logits, const int32_t *Targets, T Scale, T *Loss, T *DLogits,
                  int64_t Rows, int64_t V, cudaStream_t S) {
  PFC_LAUNCH_ROWS(crossEntropyK<T>, Rows, S, Logits, Targets, Scale, Loss, DLogits, V);
}

template <typename T>
void embeddingForward(const T *Token, const T *Position, const int32_t *Ids, T *Y, int64_t Rows,
                      int64_t H, int64_t Seq, cudaStream_t S) {
  PFC_LAUNCH(embeddingForwardK<T>, Rows * H, S, Token, Position, Ids, Y, Rows, H, Seq);
}

template <typename T>
void embeddingBackward(const T *DY, const int32_t *Csr, int64_t Unique, T *DToken, T *DPosition,
                       int64_t Rows, int64_t H, int64_t Seq, cudaStream_t S) {
  PFC_LAUNCH(embeddingTokenGradK<T>, Unique * H, S, DY, Csr, Unique, DToken, H);
  PFC_LAUNCH(embeddingPositionGradK<T>, Seq * H, S, DY, DPosition, Rows, H, Seq);
}

template <typename T>
void appendOnes(const T *X, T *Bar, int64_t Rows, int64_t In, cudaStream_t S) {
  PFC_LAUNCH(appendOnesK<T>, Rows * (In + 1), S, X, Bar, Rows, In);
}

template <typename T>
void emaFold(T *Avg, const T *Sum, int64_t N, T Inv, T Decay, T OneMinusDecay, bool First,
             cudaStream_t S) {
  PFC_LAUNCH(emaFoldK<T>, N, S, Avg, Sum, N, Inv, Decay, OneMinusDecay, First);
}

template <typename T> void addDiagonal(T *A, int64_t N, T V, cudaStream_t S) {
  PFC_LAUNCH(addDiagonalK<T>, N, S, A, N, V);
}

template <typename T> void mirrorLower(T *A, int64_t N, cudaStream_t S) {
  PFC_LAUNCH(mirrorLowerK<T>, N * N, S, A, N);
}

template <typename T> void diagonalSum(const T *A, int64_t N, double *Out, cudaStream_t S) {
  sumProducts<T>(A, N + 1, nullptr, N, Out, S);
}

template <typename T>
void sgdMomentum(T *P, const T *Dir, T *Buf, int64_t N, T Lr, T Momentum, T WeightDecay,
                 cudaStream_t S) {
  PFC_LAUNCH(sgdMomentumK<T>, N, S, P, Dir, Buf, N, Lr, Momentum, WeightDecay);
}

template <typename T>
void adamW(T *P, const T *G, T *M, T *V, int64_t N, double Lr, double Beta1, double Beta2,
           double Eps, double WeightDecay, double C1, double C2, cudaStream_t S) {
  PFC_LAUNCH(adamWK<T>, N, S, P, G, M, V, N, Lr, Beta1, Beta2, Eps, WeightDecay, C1, C2);
}

#define PFC_KERNELS_INSTANTIATE(T)                                                           \
  template void axpy(T *, const T *, int64_t, T, cudaStream_t);                              \
  template void scale(T *, int64_t, T, cudaStream_t);                                        \
  template void broadcastRows(T *, const T *, int64_t, int64_t, cudaStream_t);               \
  template void addColumnSums(T *, const T *, int64_t, int64_t, cudaStream_t);               \
  template void dotDouble(const T *, const T *, int64_t, double *, cudaStream_t);            \
  template void layerNormForward(const T *, const T *, const T *, T *, T *, T *, int64_t,    \
                                 int64_t, double, cudaStream_t);                             \
  template void layerNormBackward(const T *, const T *, const T *, const T *, T *, int64_t,  \
                                  int64_t, cudaStream_t);                                    \
  template void multiply(const T *, const T *, T *, int64_t, cudaStream_t);                  \
  template void geluForward(const T *, T *, int64_t, cudaStream_t);                          \
  template void geluBackward(const T *, const T *, T *, int64_t, cudaStream_t);              \
  template void causalSoftmaxForward(T *, int64_t, int64_t, cudaStream_t);                   \
  template void causalSoftmaxBackward(const T *, T *, int64_t, int64_t, T, cudaStream_t);    \
  template void crossEntropy(const T *, const int32_t *, T, T *, T *, int64_t, int64_t,      \
                             cudaStream_t);                                                  \
  template void embeddingForward(const T *, const T *, const int32_t *, T *, int64_t,        \
                                 int64_t, int64_t, cudaStream_t);                            \
  template void embeddingBackward(const T *, const int32_t *, int64_t, T *, T *, int64_t,    \
                                  int64_t, int64_t, cudaStream_t);                           \
  template void appendOnes(const T *, T *, int64_t, int64_t, cudaStream_t);                  \
  template void emaFold(T *, const T *, int64_t, T, T, T, bool, cudaStream_t);               \
  template void addDiagonal(T *, int64_t, T, cudaStream_t);                                  \
  template void mirrorLower(T *, int64_t, cudaStream_t);                                     \
  template void diagonalSum(const T *, int64_t, double *, cudaStream_t);                     \
  template void sgdMomentum(T *, const T *, T *, int64_t, T, T, T, cudaStream_t);            \
  template void adamW(T *, const T *, T *, T *, int64_t, double, double, double, double,     \
                      double, double, double, cudaStream_t);
PFC_KERNELS_INSTANTIATE(float)
PFC_KERNELS_INSTANTIATE(double)
#undef PFC_KERNELS_INSTANTIATE
template void cast(const float *, double *, int64_t, cudaStream_t);
template void cast(const double *, float *, int64_t, cudaStream_t);

} // namespace pfc::interp::cuda
