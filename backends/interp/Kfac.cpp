//===- Kfac.cpp - K-FAC curvature factors, damping, inversion, precondition ===//
#include "Kfac.h"

#include "Blas.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace pfc::interp {
namespace {

template <typename T> double trace(const Tensor<T> &M) {
  double S = 0;
  for (int64_t I = 0; I < M.rows(); ++I)
    S += static_cast<double>(M.at(I, I));
  return S;
}

/// Cholesky inverse of M + Damping·I in precision U.
template <typename U, typename T>
bool tryInverse(const Tensor<T> &M, double Damping, Tensor<U> &Out) {
  Out = castTensor<U>(M);
  for (int64_t I = 0; I < Out.rows(); ++I)
    Out.at(I, I) += static_cast<U>(Damping);
  return choleskyInverse(Out.data(), Out.rows());
}

} // namespace

template <typename T>
KfacFactors<T>::KfacFactors(int64_t In, int64_t Out, bool HasBias)
    : Bias(HasBias), SumA(Tensor<T>::matrix(In + HasBias, In + HasBias)),
      SumG(Tensor<T>::matrix(Out, Out)) {}

template <typename T> void accumulateA(KfacFactors<T> &F, const Tensor<T> &X) {
  const int64_t Dim = F.SumA.rows();
  assert(X.cols() + F.Bias == Dim && "accumulateA: input width differs from the factor's");
  if (!F.Bias) {
    gram(X.rows(), Dim, T(1), X.data(), Dim, T(1), F.SumA.data());
  } else {
    Tensor<T> Bar = Tensor<T>::matrix(X.rows(), Dim, T(1)); // last column stays 1
    for (int64_t R = 0; R < X.rows(); ++R)
      std::copy(&X.at(R, 0), &X.at(R, 0) + X.cols(), &Bar.at(R, 0));
    gram(X.rows(), Dim, T(1), Bar.data(), Dim, T(1), F.SumA.data());
  }
  F.RowsA += X.rows();
}

template <typename T> void accumulateG(KfacFactors<T> &F, const Tensor<T> &DY, T Scale) {
  assert(DY.cols() == F.SumG.rows() && "accumulateG: gradient width differs from the factor's");
  gram(DY.rows(), DY.cols(), T(1) / (Scale * Scale), DY.data(), DY.cols(), T(1), F.SumG.data());
  F.RowsG += DY.rows();
}

namespace {
/// Avg <- Decay Avg + (1 - Decay) Sum / Rows (Sum / Rows the first time);
/// clears Sum and Rows. Nothing happens without rows.
template <typename T> void fold(Tensor<T> &Avg, Tensor<T> &Sum, int64_t &Rows, double Decay) {
  if (Rows == 0)
    return;
  const T Inv = T(1) / static_cast<T>(Rows);
  if (Avg.empty()) {
    Avg = Sum;
    for (int64_t I = 0; I < Avg.numel(); ++I)
      Avg[I] *= Inv;
  } else {
    for (int64_t I = 0; I < Avg.numel(); ++I)
      Avg[I] = static_cast<T>(Decay) * Avg[I] + static_cast<T>(1 - Decay) * Sum[I] * Inv;
  }
  Sum.fill(T(0));
  Rows = 0;
}
} // namespace

template <typename T> void updateAverageA(KfacFactors<T> &F, double Decay) {
  fold(F.A, F.SumA, F.RowsA, Decay);
  F.HasAverage = !F.A.empty() && !F.G.empty();
}

template <typename T> void updateAverageG(KfacFactors<T> &F, double Decay) {
  fold(F.G, F.SumG, F.RowsG, Decay);
  F.HasAverage = !F.A.empty() && !F.G.empty();
}

template <typename T> void updateAverages(KfacFactors<T> &F, double Decay) {
  updateAverageA(F, Decay);
  updateAverageG(F, Decay);
}

template <typename T> double piDamping(const Tensor<T> &A, const Tensor<T> &G) {
  const double TA = trace(A) / static_cast<double>(A.rows());
  const double TG = trace(G) / static_cast<double>(G.rows());
  if (!(TA > 0) || !(TG > 0))
    return 1.0;
  return std::sqrt(TA / TG);
}

template <typename T>
bool dampedInverse(const Tensor<T> &M, double Damping, Tensor<T> &Out, bool *Retried) {
  if (Retried)
    *Retried = false;
  if (tryInverse<T>(M, Damping, Out))
    return true;
  if constexpr (std::is_same_v<T, double>) {
    return false;
  } else {
    Tensor<double> Wide;
    if (!tryInverse<double>(M, Damping, Wide))
      return false;
    Out = castTensor<T>(Wide);
    if (Retried)
      *Retried = true;
    return true;
  }
}

template <typename T> bool invertFactors(KfacFactors<T> &F, double Lambda) {
  assert(F.HasAverage && "invertFactors: no curvature yet");
  const double Pi = piDamping(F.A, F.G), Root = std::sqrt(Lambda);
  bool RetryA = false, RetryG = false;
  F.HasInverse = dampedInverse(F.A, Pi * Root, F.AInv, &RetryA) &&
                 dampedInverse(F.G, Root / Pi, F.GInv, &RetryG);
  F.Fp64Retries += RetryA + RetryG;
  return F.HasInverse;
}

template <typename T>
Tensor<T> precondition(const Tensor<T> &GInv, const Tensor<T> &V, const Tensor<T> &AInv) {
  Tensor<T> GV = matmul(GInv, Trans::No, V, Trans::No);
  return matmul(GV, Trans::No, AInv, Trans::No);
}

double klClipFactor(double SumDeltaDotV, double Lr, double Kappa) {
  if (!(SumDeltaDotV > 0) || Lr <= 0 || !(Kappa > 0))
    return 1.0;
  return std::min(1.0, std::sqrt(Kappa / (Lr * Lr * SumDeltaDotV)));
}

template <typename T> Tensor<T> joinWeightBias(const Tensor<T> &W, const Tensor<T> *B) {
  if (!B || B->empty())
    return W;
  const int64_t Out = W.rows(), In = W.cols();
  Tensor<T> V = Tensor<T>::matrix(Out, In + 1);
  for (int64_t R = 0; R < Out; ++R) {
    std::copy(&W.at(R, 0), &W.at(R, 0) + In, &V.at(R, 0));
    V.at(R, In) = (*B)[R];
  }
  return V;
}

template <typename T> void splitWeightBias(const Tensor<T> &V, Tensor<T> &W, Tensor<T> *B) {
  const int64_t Out = W.rows(), In = W.cols();
  const bool HasBias = B && !B->empty();
  assert(V.rows() == Out && V.cols() == In + HasBias && "splitWeightBias: shape mismatch");
  for (int64_t R = 0; R < Out; ++R) {
    std::copy(&V.at(R, 0), &V.at(R, 0) + In, &W.at(R, 0));
    if (HasBias)
      (*B)[R] = V.at(R, In);
  }
}

template <typename T> Tensor<T> pieceRows(const Tensor<T> &X, int32_t Piece, int32_t Pieces) {
  if (Pieces <= 1)
    return X;
  const int64_t R = X.rows(), C = X.cols();
  const int64_t Begin = R * Piece / Pieces, End = R * (Piece + 1) / Pieces;
  Tensor<T> Out = Tensor<T>::matrix(End - Begin, C);
  std::copy(X.data() + Begin * C, X.data() + End * C, Out.data());
  return Out;
}

template <typename T> void sumReplicaFactors(const std::vector<KfacFactors<T> *> &Members) {
  KfacFactors<T> Sum = *Members[0];
  for (size_t R = 1; R < Members.size(); ++R) {
    const KfacFactors<T> &F = *Members[R];
    addScaled(Sum.SumA, F.SumA), addScaled(Sum.SumG, F.SumG);
    Sum.RowsA += F.RowsA, Sum.RowsG += F.RowsG;
  }
  for (KfacFactors<T> *F : Members)
    F->SumA = Sum.SumA, F->SumG = Sum.SumG, F->RowsA = Sum.RowsA, F->RowsG = Sum.RowsG;
}

template <typename T>
EmbeddingFactors<T>::EmbeddingFactors(int64_t Entries, int64_t Hidden)
    : SumA(Tensor<T>::vector(Entries)), SumG(Tensor<T>::matrix(Hidden, Hidden)) {}

template <typename T>
void accumulateEmbeddingA(EmbeddingFactors<T> &F, const std::vector<int32_t> &Index) {
  for (int32_t I : Index) {
    assert(I >= 0 && I < F.SumA.numel() && "accumulateEmbeddingA: index out of range");
    F.SumA[I] += T(1);
  }
  F.RowsA += static_cast<int64_t>(Index.size());
}

template <typename T>
void accumulateEmbeddingG(EmbeddingFactors<T> &F, const Tensor<T> &DY, T Scale) {
  assert(DY.cols() == F.SumG.rows() && "accumulateEmbeddingG: gradient width differs");
  gram(DY.rows(), DY.cols(), T(1) / (Scale * Scale), DY.data(), DY.cols(), T(1), F.SumG.data());
  F.RowsG += DY.rows();
}

template <typename T> void updateEmbeddingAverages(EmbeddingFactors<T> &F, double Decay) {
  fold(F.A, F.SumA, F.RowsA, Decay);
  fold(F.G, F.SumG, F.RowsG, Decay);
  F.HasAverage = !F.A.empty() && !F.G.empty();
}

template <typename T> bool invertEmbeddingFactors(EmbeddingFactors<T> &F, double Lambda) {
  assert(F.HasAverage && "invertEmbeddingFactors: no curvature yet");
  double MeanA = 0;
  for (int64_t I = 0; I < F.A.numel(); ++I)
    MeanA += static_cast<double>(F.A[I]);
  MeanA /= static_cast<double>(F.A.numel());
  const double MeanG = trace(F.G) / static_cast<double>(F.G.rows());
  const double Pi = MeanA > 0 && MeanG > 0 ? std::sqrt(MeanA / MeanG) : 1.0;
  const double Root = std::sqrt(Lambda);
  F.AInv = Tensor<T>(F.A.shape());
  for (int64_t I = 0; I < F.A.numel(); ++I)
    F.AInv[I] = static_cast<T>(1.0 / (static_cast<double>(F.A[I]) + Pi * Root));
  F.HasInverse = dampedInverse(F.G, Root / Pi, F.GInv);
  return F.HasInverse;
}

template <typename T>
Tensor<T> preconditionEmbedding(const EmbeddingFactors<T> &F, const Tensor<T> &V) {
  Tensor<T> Delta = matmul(V, Trans::No, F.GInv, Trans::No);
  for (int64_t R = 0; R < Delta.rows(); ++R)
    for (int64_t C = 0; C < Delta.cols(); ++C)
      Delta.at(R, C) *= F.AInv[R];
  return Delta;
}

#define PFC_KFAC_INSTANTIATE(T)                                                              \
  template struct KfacFactors<T>;                                                            \
  template void accumulateA(KfacFactors<T> &, const Tensor<T> &);                            \
  template void accumulateG(KfacFactors<T> &, const Tensor<T> &, T);                         \
  template void updateAverages(KfacFactors<T> &, double);                                    \
  template void updateAverageA(KfacFactors<T> &, double);                                    \
  template void updateAverageG(KfacFactors<T> &, double);                                    \
  template Tensor<T> pieceRows(const Tensor<T> &, int32_t, int32_t);                         \
  template void sumReplicaFactors(const std::vector<KfacFactors<T> *> &);                    \
  template double piDamping(const Tensor<T> &, const Tensor<T> &);                           \
  template bool dampedInverse(const Tensor<T> &, double, Tensor<T> &, bool *);               \
  template bool invertFactors(KfacFactors<T> &, double);                                     \
  template Tensor<T> precondition(const Tensor<T> &, const Tensor<T> &, const Tensor<T> &);  \
  template Tensor<T> joinWeightBias(const Tensor<T> &, const Tensor<T> *);                   \
  template void splitWeightBias(const Tensor<T> &, Tensor<T> &, Tensor<T> *);                \
  template struct EmbeddingFactors<T>;                                                       \
  template void accumulateEmbeddingA(EmbeddingFactors<T> &, const std::vector<int32_t> &);   \
  template void accumulateEmbeddingG(EmbeddingFactors<T> &, const Tensor<T> &, T);           \
  template void updateEmbeddingAverages(EmbeddingFactors<T> &, double);                      \
  template bool invertEmbeddingFactors(EmbeddingFactors<T> &, double);                       \
  template Tensor<T> preconditionEmbedding(const EmbeddingFactors<T> &, const Tensor<T> &);
PFC_KFAC_INSTANTIATE(float)
PFC_KFAC_INSTANTIATE(double)
#undef PFC_KFAC_INSTANTIATE

} // namespace pfc::interp
