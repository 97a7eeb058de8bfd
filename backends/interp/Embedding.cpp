//===- Embedding.cpp - token and learned position embeddings ---------------===//
#include "Embedding.h"

namespace pfc::interp {

template <typename T>
Embedding<T>::Embedding(const std::string &Name, int64_t Vocab, int64_t Hidden, int64_t Seq)
    : Token(Name + ".token", {Vocab, Hidden}), Position(Name + ".position", {Seq, Hidden}) {}

template <typename T> void Embedding<T>::init(Rng &R, double Std) {
  fillNormal(Token.Value, R, Std);
  fillNormal(Position.Value, R, Std);
}

template <typename T>
Tensor<T> Embedding<T>::forward(int32_t Mb, std::span<const int32_t> Tokens) {
  const int64_t Seq = Position.Value.rows(), H = Token.Value.cols();
  const int64_t Rows = static_cast<int64_t>(Tokens.size());
  assert(Rows % Seq == 0 && "Embedding: tokens are not whole sequences");
  Tensor<T> Y = Tensor<T>::matrix(Rows, H);
  for (int64_t R = 0; R < Rows; ++R) {
    const int32_t Id = Tokens[static_cast<size_t>(R)];
    assert(Id >= 0 && Id < Token.Value.rows() && "Embedding: token id out of range");
    for (int64_t J = 0; J < H; ++J)
      Y.at(R, J) = Token.Value.at(Id, J) + Position.Value.at(R % Seq, J);
  }
  Ids.put(Mb, std::vector<int32_t>(Tokens.begin(), Tokens.end()));
  return Y;
}

template <typename T> void Embedding<T>::backward(int32_t Mb, const Tensor<T> &DY) {
  std::vector<int32_t> Tokens = Ids.take(Mb);
  const int64_t Seq = Position.Value.rows(), H = Token.Value.cols();
  for (int64_t R = 0; R < DY.rows(); ++R)
    for (int64_t J = 0; J < H; ++J) {
      Token.Grad.at(Tokens[static_cast<size_t>(R)], J) += DY.at(R, J);
      Position.Grad.at(R % Seq, J) += DY.at(R, J);
    }
  if (SaveForCurvature) {
    CurvatureIds.put(Mb, std::move(Tokens));
    CurvatureGrads.put(Mb, DY);
  }
}

template class Embedding<float>;
template class Embedding<double>;

} // namespace pfc::interp
