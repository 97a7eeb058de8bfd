//===- Block.cpp - one pre-LN Transformer block ----------------------------===//
#include "Block.h"

namespace pfc::interp {

template <typename T>
Block<T>::Block(const std::string &Name, int64_t Hidden, int64_t Ffn, int64_t Heads,
                int64_t Seq)
    : Norm1(Name + ".norm1", Hidden), Attn(Name + ".attn", Hidden, Heads, Seq),
      Norm2(Name + ".norm2", Hidden), Fc1(Name + ".fc1", Hidden, Ffn),
      Fc2(Name + ".fc2", Ffn, Hidden) {}

template <typename T> void Block<T>::init(Rng &R, double Std, double ResidualStd) {
  Attn.init(R, Std, ResidualStd);
  Fc1.init(R, Std);
  Fc2.init(R, ResidualStd);
}

template <typename T> Tensor<T> Block<T>::forward(int32_t Mb, const Tensor<T> &X) {
  Tensor<T> H = Attn.forward(Mb, Norm1.forward(Mb, X));
  addScaled(H, X);
  Tensor<T> Y = Fc2.forward(Mb, Act.forward(Mb, Fc1.forward(Mb, Norm2.forward(Mb, H))));
  addScaled(Y, H);
  return Y;
}

template <typename T> Tensor<T> Block<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  Tensor<T> DH = Norm2.backward(Mb, Fc1.backward(Mb, Act.backward(Mb, Fc2.backward(Mb, DY))));
  addScaled(DH, DY);
  Tensor<T> DX = Norm1.backward(Mb, Attn.backward(Mb, DH));
  addScaled(DX, DH);
  return DX;
}

template <typename T> ParamList<T> Block<T>::params() {
  ParamList<T> P;
  for (const ParamList<T> &Part :
       {Norm1.params(), Attn.params(), Norm2.params(), Fc1.params(), Fc2.params()})
    P.insert(P.end(), Part.begin(), Part.end());
  return P;
}

template <typename T> std::vector<Linear<T> *> Block<T>::linears() {
  std::vector<Linear<T> *> L = Attn.linears();
  L.push_back(&Fc1);
  L.push_back(&Fc2);
  return L;
}

template class Block<float>;
template class Block<double>;

} // namespace pfc::interp
