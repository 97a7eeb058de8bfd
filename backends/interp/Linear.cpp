//===- Linear.cpp - fully connected layer y = x Wᵀ + b ---------------------===//
#include "Linear.h"

#include "Blas.h"

namespace pfc::interp {

template <typename T>
Linear<T>::Linear(std::string N, int64_t In, int64_t Out, bool HasBias)
    : Weight(N + ".weight", {Out, In}), Name(std::move(N)) {
  if (HasBias)
    Bias = Param<T>(Name + ".bias", {Out});
}

template <typename T> void Linear<T>::init(Rng &R, double Std) {
  fillNormal(Weight.Value, R, Std);
  Bias.Value.fill(T(0));
}

template <typename T> Tensor<T> Linear<T>::forward(int32_t Mb, const Tensor<T> &X) {
  assert(X.cols() == inFeatures() && "Linear: input width differs from the layer's");
  std::vector<int64_t> Shape = X.shape();
  Shape.back() = outFeatures();
  Tensor<T> Y(Shape);
  if (hasBias())
    for (int64_t R = 0; R < Y.rows(); ++R)
      std::copy(Bias.Value.data(), Bias.Value.data() + outFeatures(), &Y.at(R, 0));
  gemm(Trans::No, Trans::Yes, X.rows(), outFeatures(), inFeatures(), T(1), X.data(),
       inFeatures(), Weight.Value.data(), inFeatures(), hasBias() ? T(1) : T(0), Y.data(),
       outFeatures());
  if (SaveForCurvature)
    CurvatureInputs.put(Mb, X);
  Inputs.put(Mb, X);
  return Y;
}

template <typename T> Tensor<T> Linear<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  Tensor<T> X = Inputs.take(Mb);
  assert(DY.rows() == X.rows() && DY.cols() == outFeatures() && "Linear: bad gradient");
  const int64_t Rows = X.rows(), In = inFeatures(), Out = outFeatures();
  // dW += dYᵀ X
  gemm(Trans::Yes, Trans::No, Out, In, Rows, T(1), DY.data(), Out, X.data(), In, T(1),
       Weight.Grad.data(), In);
  if (hasBias())
    for (int64_t R = 0; R < Rows; ++R)
      for (int64_t J = 0; J < Out; ++J)
        Bias.Grad[J] += DY.at(R, J);
  Tensor<T> DX(X.shape());
  gemm(Trans::No, Trans::No, Rows, In, Out, T(1), DY.data(), Out, Weight.Value.data(), In,
       T(0), DX.data(), In);
  if (SaveForCurvature)
    CurvatureGrads.put(Mb, DY);
  return DX;
}

template <typename T> ParamList<T> Linear<T>::params() {
  ParamList<T> P{&Weight};
  if (hasBias())
    P.push_back(&Bias);
  return P;
}

template class Linear<float>;
template class Linear<double>;

} // namespace pfc::interp
