//===- CudaLayers.cpp - the Transformer's layers on the GPU ----------------===//
//
// Attention runs, per sequence, one strided-batched GEMM over the heads for
// each product (head h's block of Q, K, V starts h·d columns in, leading
// dimension Hidden; its Seq x Seq scores are contiguous), and one softmax
// launch over every row of every head. Outputs whose every element a kernel
// or a Beta = 0 GEMM writes are left uninitialised.
//
//===----------------------------------------------------------------------===//
#include "CudaLayers.h"

#include "CudaBlas.h"
#include "Kernels.h"

#include <algorithm>
#include <cmath>

namespace pfc::interp::cuda {
namespace {

std::vector<int64_t> withCols(std::vector<int64_t> Shape, int64_t Cols) {
  Shape.back() = Cols;
  return Shape;
}

DeviceTensor<int32_t> uploadIds(std::span<const int32_t> Ids, Lane &L) {
  DeviceTensor<int32_t> D({static_cast<int64_t>(Ids.size())});
  if (D.data() && !Ids.empty())
    PFC_CUDA_CHECK(cudaMemcpyAsync(D.data(), Ids.data(), Ids.size() * sizeof(int32_t),
                                   cudaMemcpyHostToDevice, L.stream()));
  return D;
}

/// The rows of each distinct token id, as Kernels.h's embeddingBackward
/// wants them: ids ascending, then offsets, then rows grouped by id.
std::vector<int32_t> rowsById(std::span<const int32_t> Ids, int64_t &Unique) {
  std::vector<int32_t> Order(Ids.size());
  for (size_t I = 0; I < Order.size(); ++I)
    Order[I] = static_cast<int32_t>(I);
  std::stable_sort(Order.begin(), Order.end(),
                   [&](int32_t A, int32_t B) { return Ids[size_t(A)] < Ids[size_t(B)]; });
  std::vector<int32_t> Uniq, Offsets;
  for (size_t K = 0; K < Order.size(); ++K)
    if (K == 0 || Ids[size_t(Order[K])] != Ids[size_t(Order[K - 1])]) {
      Uniq.push_back(Ids[size_t(Order[K])]);
      Offsets.push_back(static_cast<int32_t>(K));
    }
  Offsets.push_back(static_cast<int32_t>(Order.size()));
  Unique = static_cast<int64_t>(Uniq.size());
  std::vector<int32_t> Csr = std::move(Uniq);
  Csr.insert(Csr.end(), Offsets.begin(), Offsets.end());
  Csr.insert(Csr.end(), Order.begin(), Order.end());
  return Csr;
}

} // namespace

template <typename T>
DeviceParam<T>::DeviceParam(const Param<T> &P, Lane &L)
    : Name(P.Name), Value(DeviceTensor<T>::upload(P.Value, L.stream())),
      Grad(DeviceTensor<T>::zeros(P.Value.shape(), L.stream())) {}

//===- Linear -------------------------------------------------------------===//

template <typename T>
Linear<T>::Linear(const interp::Linear<T> &Cpu, Lane &L) : Weight(Cpu.Weight, L) {
  if (Cpu.hasBias())
    Bias = DeviceParam<T>(Cpu.Bias, L);
}

template <typename T>
DeviceTensor<T> Linear<T>::forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X) {
  assert(X.cols() == inFeatures() && "Linear: input width differs from the layer's");
  DeviceTensor<T> Y(withCols(X.shape(), outFeatures()));
  if (hasBias())
    broadcastRows(Y.data(), Bias.Value.data(), Y.rows(), outFeatures(), L.stream());
  gemm(L, Trans::No, Trans::Yes, X.rows(), outFeatures(), inFeatures(), T(1), X.data(),
       inFeatures(), Weight.Value.data(), inFeatures(), hasBias() ? T(1) : T(0), Y.data(),
       outFeatures());
  if (SaveForCurvature)
    CurvatureInputs.put(Mb, X.clone(L.stream()));
  Inputs.put(Mb, X.clone(L.stream()));
  return Y;
}

template <typename T>
DeviceTensor<T> Linear<T>::backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY) {
  DeviceTensor<T> X = Inputs.take(Mb);
  assert(DY.rows() == X.rows() && DY.cols() == outFeatures() && "Linear: bad gradient");
  const int64_t Rows = X.rows(), In = inFeatures(), Out = outFeatures();
  gemm(L, Trans::Yes, Trans::No, Out, In, Rows, T(1), DY.data(), Out, X.data(), In, T(1),
       Weight.Grad.data(), In);
  if (hasBias())
    addColumnSums(Bias.Grad.data(), DY.data(), Rows, Out, L.stream());
  DeviceTensor<T> DX(X.shape());
  gemm(L, Trans::No, Trans::No, Rows, In, Out, T(1), DY.data(), Out, Weight.Value.data(), In,
       T(0), DX.data(), In);
  if (SaveForCurvature)
    CurvatureGrads.put(Mb, DY.clone(L.stream()));
  return DX;
}

template <typename T> DeviceParamList<T> Linear<T>::params() {
  DeviceParamList<T> P{&Weight};
  if (hasBias())
    P.push_back(&Bias);
  return P;
}

//===- LayerNorm ----------------------------------------------------------===//

template <typename T>
LayerNorm<T>::LayerNorm(const interp::LayerNorm<T> &Cpu, Lane &L, double Eps)
    : Gamma(Cpu.Gamma, L), Beta(Cpu.Beta, L), Eps(Eps) {}

template <typename T>
DeviceTensor<T> LayerNorm<T>::forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X) {
  const int64_t H = Gamma.Value.numel();
  assert(X.cols() == H && "LayerNorm: input width differs from the layer's");
  Saved S{DeviceTensor<T>(X.shape()), DeviceTensor<T>({X.rows()})};
  DeviceTensor<T> Y(X.shape());
  layerNormForward(X.data(), Gamma.Value.data(), Beta.Value.data(), Y.data(),
                   S.Normalized.data(), S.InvStd.data(), X.rows(), H, Eps, L.stream());
  Cache.put(Mb, std::move(S));
  return Y;
}

template <typename T>
DeviceTensor<T> LayerNorm<T>::backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY) {
  Saved S = Cache.take(Mb);
  const int64_t H = Gamma.Value.numel();
  DeviceTensor<T> DX(DY.shape());
  DeviceTensor<T> Prod(DY.shape()); // dY ⊙ x̂, summed over rows into dγ
  multiply(DY.data(), S.Normalized.data(), Prod.data(), DY.numel(), L.stream());
  addColumnSums(Gamma.Grad.data(), Prod.data(), DY.rows(), H, L.stream());
  addColumnSums(Beta.Grad.data(), DY.data(), DY.rows(), H, L.stream());
  layerNormBackward(DY.data(), S.Normalized.data(), S.InvStd.data(), Gamma.Value.data(),
                    DX.data(), DY.rows(), H, L.stream());
  return DX;
}

//===- Gelu ---------------------------------------------------------------===//

template <typename T>
DeviceTensor<T> Gelu<T>::forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X) {
  DeviceTensor<T> Y(X.shape());
  geluForward(X.data(), Y.data(), X.numel(), L.stream());
  Inputs.put(Mb, X.clone(L.stream()));
  return Y;
}

template <typename T>
DeviceTensor<T> Gelu<T>::backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY) {
  DeviceTensor<T> X = Inputs.take(Mb);
  DeviceTensor<T> DX(X.shape());
  geluBackward(X.data(), DY.data(), DX.data(), X.numel(), L.stream());
  return DX;
}

//===- Attention ----------------------------------------------------------===//

template <typename T>
Attention<T>::Attention(const interp::Attention<T> &Cpu, Lane &L, int64_t Heads, int64_t Seq)
    : Query(Cpu.Query, L), Key(Cpu.Key, L), Value(Cpu.Value, L), Output(Cpu.Output, L),
      Hidden(Cpu.Query.inFeatures()), Heads(Heads), Seq(Seq) {}

template <typename T> DeviceParamList<T> Attention<T>::params() {
  DeviceParamList<T> P;
  for (Linear<T> *Lin : linears())
    for (DeviceParam<T> *Q : Lin->params())
      P.push_back(Q);
  return P;
}

template <typename T>
DeviceTensor<T> Attention<T>::forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X) {
  assert(X.rows() % Seq == 0 && "Attention: rows are not whole sequences");
  const int64_t B = X.rows() / Seq, D = Hidden / Heads, H = Hidden;
  const T Scale = T(1) / std::sqrt(T(D));
  Saved S{Query.forward(L, Mb, X), Key.forward(L, Mb, X), Value.forward(L, Mb, X),
          DeviceTensor<T>({B, Heads, Seq, Seq})};
  DeviceTensor<T> O = DeviceTensor<T>::matrix(X.rows(), H);
  for (int64_t Bi = 0; Bi < B; ++Bi) {
    const int64_t Off = Bi * Seq * H;
    gemmStridedBatched(L, Trans::No, Trans::Yes, Seq, Seq, D, Scale, S.Q.data() + Off, H, D,
                       S.K.data() + Off, H, D, T(0), S.Probs.data() + Bi * Heads * Seq * Seq,
                       Seq, Seq * Seq, Heads);
  }
  causalSoftmaxForward(S.Probs.data(), B * Heads * Seq, Seq, L.stream());
  for (int64_t Bi = 0; Bi < B; ++Bi) {
    const int64_t Off = Bi * Seq * H;
    gemmStridedBatched(L, Trans::No, Trans::No, Seq, D, Seq, T(1),
                       S.Probs.data() + Bi * Heads * Seq * Seq, Seq, Seq * Seq,
                       S.V.data() + Off, H, D, T(0), O.data() + Off, H, D, Heads);
  }
  Cache.put(Mb, std::move(S));
  return Output.forward(L, Mb, O);
}

template <typename T>
DeviceTensor<T> Attention<T>::backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY) {
  DeviceTensor<T> DO = Output.backward(L, Mb, DY);
  Saved S = Cache.take(Mb);
  const int64_t B = DO.rows() / Seq, D = Hidden / Heads, H = Hidden;
  const T Scale = T(1) / std::sqrt(T(D));
  DeviceTensor<T> DQ = DeviceTensor<T>::matrix(DO.rows(), H), DK = DeviceTensor<T>::matrix(DO.rows(), H),
                  DV = DeviceTensor<T>::matrix(DO.rows(), H);
  DeviceTensor<T> DS({B, Heads, Seq, Seq});
  for (int64_t Bi = 0; Bi < B; ++Bi) {
    const int64_t Off = Bi * Seq * H, POff = Bi * Heads * Seq * Seq;
    // dP = dO Vᵀ, dV = Pᵀ dO
    gemmStridedBatched(L, Trans::No, Trans::Yes, Seq, Seq, D, T(1), DO.data() + Off, H, D,
                       S.V.data() + Off, H, D, T(0), DS.data() + POff, Seq, Seq * Seq, Heads);
    gemmStridedBatched(L, Trans::Yes, Trans::No, Seq, D, Seq, T(1), S.Probs.data() + POff, Seq,
                       Seq * Seq, DO.data() + Off, H, D, T(0), DV.data() + Off, H, D, Heads);
  }
  causalSoftmaxBackward(S.Probs.data(), DS.data(), B * Heads * Seq, Seq, Scale, L.stream());
  for (int64_t Bi = 0; Bi < B; ++Bi) {
    const int64_t Off = Bi * Seq * H, POff = Bi * Heads * Seq * Seq;
    // dQ = dS K, dK = dSᵀ Q
    gemmStridedBatched(L, Trans::No, Trans::No, Seq, D, Seq, T(1), DS.data() + POff, Seq,
                       Seq * Seq, S.K.data() + Off, H, D, T(0), DQ.data() + Off, H, D, Heads);
    gemmStridedBatched(L, Trans::Yes, Trans::No, Seq, D, Seq, T(1), DS.data() + POff, Seq,
                       Seq * Seq, S.Q.data() + Off, H, D, T(0), DK.data() + Off, H, D, Heads);
  }
  DeviceTensor<T> DX = Query.backward(L, Mb, DQ);
  DeviceTensor<T> DXk = Key.backward(L, Mb, DK);
  axpy(DX.data(), DXk.data(), DX.numel(), T(1), L.stream());
  DeviceTensor<T> DXv = Value.backward(L, Mb, DV);
  axpy(DX.data(), DXv.data(), DX.numel(), T(1), L.stream());
  return DX;
}

//===- Embedding ----------------------------------------------------------===//

template <typename T>
Embedding<T>::Embedding(const interp::Embedding<T> &Cpu, Lane &L)
    : Token(Cpu.Token, L), Position(Cpu.Position, L) {}

template <typename T>
DeviceTensor<T> Embedding<T>::forward(Lane &L, int32_t Mb, std::span<const int32_t> Tokens) {
  const int64_t Seq = Position.Value.rows(), H = Token.Value.cols();
  const int64_t Rows = static_cast<int64_t>(Tokens.size());
  assert(Rows % Seq == 0 && "Embedding: tokens are not whole sequences");
  DeviceTensor<int32_t> Ids = uploadIds(Tokens, L);
  DeviceTensor<T> Y = DeviceTensor<T>::matrix(Rows, H);
  embeddingForward(Token.Value.data(), Position.Value.data(), Ids.data(), Y.data(), Rows, H, Seq,
                   L.stream());
  SavedIds S;
  S.Csr = uploadIds(rowsById(Tokens, S.Unique), L); // staged: the host list may go
  Saved.put(Mb, std::move(S));
  return Y;
}

template <typename T> void Embedding<T>::backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY) {
  SavedIds S = Saved.take(Mb);
  embeddingBackward(DY.data(), S.Csr.data(), S.Unique, Token.Grad.data(), Position.Grad.data(),
                    DY.rows(), Token.Value.cols(), Position.Value.rows(), L.stream());
}

//===- LmHead -------------------------------------------------------------===//

template <typename T>
LmHead<T>::LmHead(const interp::LmHead<T> &Cpu, Lane &L) : Norm(Cpu.Norm, L), Proj(Cpu.Proj, L) {}

template <typename T>
double LmHead<T>::forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X,
                          std::span<const int32_t> Targets) {
  DeviceTensor<T> Logits = Proj.forward(L, Mb, Norm.forward(L, Mb, X));
  const int64_t Rows = Logits.rows();
  assert(static_cast<int64_t>(Targets.size()) == Rows && "LmHead: one target per row");
  DeviceTensor<int32_t> Tgt = uploadIds(Targets, L);
  DeviceTensor<T> Loss({Rows});
  crossEntropy<T>(Logits.data(), Tgt.data(), T(0), Loss.data(), nullptr, Rows, Logits.cols(),
                  L.stream());
  const Tensor<T> Host = Loss.download(L.stream());
  double Total = 0;
  for (int64_t R = 0; R < Rows; ++R)
    Total += static_cast<double>(Host[R]);
  Cache.put(Mb, Saved{std::move(Logits), std::move(Tgt)});
  return Rows ? Total / static_cast<double>(Rows) : 0.0;
}

template <typename T> DeviceTensor<T> LmHead<T>::backward(Lane &L, int32_t Mb, T Scale) {
  Saved S = Cache.take(Mb);
  const int64_t Rows = S.Logits.rows();
  DeviceTensor<T> DLogits(S.Logits.shape()), Loss({Rows});
  crossEntropy<T>(S.Logits.data(), S.Targets.data(), Scale, Loss.data(), DLogits.data(), Rows,
                  S.Logits.cols(), L.stream());
  return Norm.backward(L, Mb, Proj.backward(L, Mb, DLogits));
}

template <typename T> DeviceParamList<T> LmHead<T>::params() {
  DeviceParamList<T> P = Norm.params();
  for (DeviceParam<T> *Q : Proj.params())
    P.push_back(Q);
  return P;
}

//===- Block --------------------------------------------------------------===//

template <typename T>
Block<T>::Block(const interp::Block<T> &Cpu, Lane &L, int64_t Heads, int64_t Seq)
    : Norm1(Cpu.Norm1, L), Attn(Cpu.Attn, L, Heads, Seq), Norm2(Cpu.Norm2, L), Fc1(Cpu.Fc1, L),
      Fc2(Cpu.Fc2, L) {}

template <typename T>
DeviceTensor<T> Block<T>::forward(Lane &L, int32_t Mb, const DeviceTensor<T> &X) {
  DeviceTensor<T> H = Attn.forward(L, Mb, Norm1.forward(L, Mb, X));
  axpy(H.data(), X.data(), H.numel(), T(1), L.stream());
  DeviceTensor<T> Y =
      Fc2.forward(L, Mb, Act.forward(L, Mb, Fc1.forward(L, Mb, Norm2.forward(L, Mb, H))));
  axpy(Y.data(), H.data(), Y.numel(), T(1), L.stream());
  return Y;
}

template <typename T>
DeviceTensor<T> Block<T>::backward(Lane &L, int32_t Mb, const DeviceTensor<T> &DY) {
  DeviceTensor<T> DH =
      Norm2.backward(L, Mb, Fc1.backward(L, Mb, Act.backward(L, Mb, Fc2.backward(L, Mb, DY))));
  axpy(DH.data(), DY.data(), DH.numel(), T(1), L.stream());
  DeviceTensor<T> DX = Norm1.backward(L, Mb, Attn.backward(L, Mb, DH));
  axpy(DX.data(), DH.data(), DX.numel(), T(1), L.stream());
  return DX;
}

template <typename T> DeviceParamList<T> Block<T>::params() {
  DeviceParamList<T> P;
  for (const DeviceParamList<T> &Part :
       {Norm1.params(), Attn.params(), Norm2.params(), Fc1.params(), Fc2.params()})
    P.insert(P.end(), Part.begin(), Part.end());
  return P;
}

template <typename T> std::vector<Linear<T> *> Block<T>::linears() {
  std::vector<Linear<T> *> Out = Attn.linears();
  Out.push_back(&Fc1);
  Out.push_back(&Fc2);
  return Out;
}

#define PFC_CUDA_LAYERS_INSTANTIATE(T)                                                       \
  template struct DeviceParam<T>;                                                            \
  template class Linear<T>;                                                                  \
  template class LayerNorm<T>;                                                               \
  template class Gelu<T>;                                                                    \
  template class Attention<T>;                                                               \
  template class Embedding<T>;                                                               \
  template class LmHead<T>;                                                                  \
  template class Block<T>;
PFC_CUDA_LAYERS_INSTANTIATE(float)
PFC_CUDA_LAYERS_INSTANTIATE(double)
#undef PFC_CUDA_LAYERS_INSTANTIATE

} // namespace pfc::interp::cuda
