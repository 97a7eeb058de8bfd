//===- Attention.cpp - causal multi-head self-attention --------------------===//
//
// Per sequence b and head h, with the head's blocks Q_bh, K_bh, V_bh read in
// place through a leading dimension of Hidden:
//   S = Q Kᵀ/√d (masked), P = softmax(S) row-wise, O = P V.
// Backward: dP = dO Vᵀ, dV = Pᵀ dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)) / √d,
// dQ = dS K, dK = dSᵀ Q. Masked entries have P = 0, so they get dS = 0.
//
//===----------------------------------------------------------------------===//
#include "Attention.h"

#include "Blas.h"

#include <cmath>
#include <limits>

namespace pfc::interp {

template <typename T>
Attention<T>::Attention(const std::string &Name, int64_t Hidden, int64_t Heads, int64_t Seq)
    : Query(Name + ".query", Hidden, Hidden), Key(Name + ".key", Hidden, Hidden),
      Value(Name + ".value", Hidden, Hidden), Output(Name + ".output", Hidden, Hidden),
      Hidden(Hidden), Heads(Heads), Seq(Seq) {
  assert(Hidden % Heads == 0 && "Attention: hidden size not divisible by heads");
}

template <typename T> void Attention<T>::init(Rng &R, double Std, double OutStd) {
  Query.init(R, Std);
  Key.init(R, Std);
  Value.init(R, Std);
  Output.init(R, OutStd);
}

template <typename T> ParamList<T> Attention<T>::params() {
  ParamList<T> P;
  for (Linear<T> *L : linears())
    for (Param<T> *Q : L->params())
      P.push_back(Q);
  return P;
}

template <typename T> Tensor<T> Attention<T>::forward(int32_t Mb, const Tensor<T> &X) {
  assert(X.rows() % Seq == 0 && "Attention: rows are not whole sequences");
  const int64_t B = X.rows() / Seq, D = Hidden / Heads, H = Hidden;
  const T Scale = T(1) / std::sqrt(T(D));
  Saved S{Query.forward(Mb, X), Key.forward(Mb, X), Value.forward(Mb, X),
          Tensor<T>({B, Heads, Seq, Seq})};
  Tensor<T> O = Tensor<T>::matrix(X.rows(), H);
  for (int64_t Bi = 0; Bi < B; ++Bi)
    for (int64_t Hi = 0; Hi < Heads; ++Hi) {
      const int64_t Off = Bi * Seq * H + Hi * D;
      T *P = S.Probs.data() + (Bi * Heads + Hi) * Seq * Seq;
      gemm(Trans::No, Trans::Yes, Seq, Seq, D, Scale, S.Q.data() + Off, H, S.K.data() + Off,
           H, T(0), P, Seq);
      for (int64_t I = 0; I < Seq; ++I) {
        T *Row = P + I * Seq;
        T Max = Row[0];
        for (int64_t J = 1; J <= I; ++J)
          Max = std::max(Max, Row[J]);
        T Sum = 0;
        for (int64_t J = 0; J <= I; ++J) {
          Row[J] = std::exp(Row[J] - Max);
          Sum += Row[J];
        }
        for (int64_t J = 0; J <= I; ++J)
          Row[J] /= Sum;
        for (int64_t J = I + 1; J < Seq; ++J)
          Row[J] = T(0);
      }
      gemm(Trans::No, Trans::No, Seq, D, Seq, T(1), P, Seq, S.V.data() + Off, H, T(0),
           O.data() + Off, H);
    }
  Cache.put(Mb, std::move(S));
  return Output.forward(Mb, O);
}

template <typename T> Tensor<T> Attention<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  Tensor<T> DO = Output.backward(Mb, DY);
  Saved S = Cache.take(Mb);
  const int64_t B = DO.rows() / Seq, D = Hidden / Heads, H = Hidden;
  const T Scale = T(1) / std::sqrt(T(D));
  Tensor<T> DQ = Tensor<T>::matrix(DO.rows(), H), DK = DQ, DV = DQ;
  std::vector<T> DS(static_cast<size_t>(Seq * Seq));
  for (int64_t Bi = 0; Bi < B; ++Bi)
    for (int64_t Hi = 0; Hi < Heads; ++Hi) {
      const int64_t Off = Bi * Seq * H + Hi * D;
      const T *P = S.Probs.data() + (Bi * Heads + Hi) * Seq * Seq;
      gemm(Trans::No, Trans::Yes, Seq, Seq, D, T(1), DO.data() + Off, H, S.V.data() + Off, H,
           T(0), DS.data(), Seq);
      gemm(Trans::Yes, Trans::No, Seq, D, Seq, T(1), P, Seq, DO.data() + Off, H, T(0),
           DV.data() + Off, H);
      for (int64_t I = 0; I < Seq; ++I) {
        T *Row = DS.data() + I * Seq;
        const T *PRow = P + I * Seq;
        T Dot = 0;
        for (int64_t J = 0; J <= I; ++J)
          Dot += Row[J] * PRow[J];
        for (int64_t J = 0; J < Seq; ++J)
          Row[J] = PRow[J] * (Row[J] - Dot) * Scale;
      }
      gemm(Trans::No, Trans::No, Seq, D, Seq, T(1), DS.data(), Seq, S.K.data() + Off, H, T(0),
           DQ.data() + Off, H);
      gemm(Trans::Yes, Trans::No, Seq, D, Seq, T(1), DS.data(), Seq, S.Q.data() + Off, H,
           T(0), DK.data() + Off, H);
    }
  Tensor<T> DX = Query.backward(Mb, DQ);
  addScaled(DX, Key.backward(Mb, DK));
  addScaled(DX, Value.backward(Mb, DV));
  return DX;
}

template class Attention<float>;
template class Attention<double>;

} // namespace pfc::interp
