//===- Model.cpp - a small Transformer LM split like the plan's stages -----===//
#include "Model.h"

#include "ir/Diagnostics.h"

#include <cmath>

#include <unistd.h>

namespace pfc::interp {

llvm::Expected<ModelConfig> scaledConfig(const proto::Model &M, const ModelScale &S,
                                         uint64_t Seed) {
  auto Pick = [](int32_t Scaled, int32_t Own) { return Scaled > 0 ? Scaled : Own; };
  ModelConfig C;
  C.Layers = Pick(S.Layers, M.num_layers());
  C.Hidden = Pick(S.Hidden, M.hidden_size());
  const int32_t OwnFfn = M.ffn_size() > 0 ? M.ffn_size() : 4 * M.hidden_size();
  C.Ffn = S.Ffn > 0 ? S.Ffn
          : S.Hidden > 0 && M.hidden_size() > 0
              ? std::max<int32_t>(1, static_cast<int32_t>(int64_t(OwnFfn) * C.Hidden /
                                                          M.hidden_size()))
              : OwnFfn;
  C.Heads = Pick(S.Heads, M.num_heads());
  C.Seq = Pick(S.Seq, M.seq_length());
  C.Vocab = Pick(S.Vocab, M.vocab_size());
  C.MicroBatch = Pick(S.MicroBatch, M.micro_batch_size());
  C.Seed = Seed;
  for (auto [Name, V] : {std::pair{"layers", C.Layers}, {"hidden size", C.Hidden},
                         {"ffn size", C.Ffn}, {"heads", C.Heads}, {"sequence length", C.Seq},
                         {"vocabulary", C.Vocab}, {"micro-batch size", C.MicroBatch}})
    if (V < 1)
      return userError("pfc-run: error: model '{}' has {} {}; it must be at least 1",
                       M.name(), V, Name);
  if (C.Hidden % C.Heads != 0)
    return userError("pfc-run: error: {} heads do not divide the hidden size {}", C.Heads,
                     C.Hidden);
  return C;
}

double runBytes(const ModelConfig &C, int64_t Replicas, int64_t InFlight, int64_t ElemBytes) {
  const double H = C.Hidden, F = C.Ffn, V = C.Vocab, S = C.Seq;
  const double Tokens = S * C.MicroBatch;
  const double Params = C.Layers * (4 * H * H + 2 * H * F + 9 * H + F) + 2 * V * H + S * H;
  // Per block and micro-batch: the Linear and LayerNorm inputs, attention
  // scores and probabilities, GELU's input and output; the head's logits
  // and their gradient.
  const double Block = Tokens * (12 * H + 3 * F) + 2.0 * C.MicroBatch * C.Heads * S * S;
  const double Head = 2 * Tokens * V;
  return static_cast<double>(ElemBytes) *
         (4 * Params * static_cast<double>(Replicas) +
          static_cast<double>(InFlight) * (C.Layers * Block + Head));
}

double physicalMemoryBytes() {
  const long Pages = sysconf(_SC_PHYS_PAGES), Page = sysconf(_SC_PAGE_SIZE);
  return Pages > 0 && Page > 0 ? static_cast<double>(Pages) * static_cast<double>(Page) : 0;
}

llvm::Error checkRunFits(const ModelConfig &C, int64_t Replicas, int64_t InFlight,
                         int64_t ElemBytes, double LimitBytes) {
  if (LimitBytes <= 0)
    LimitBytes = physicalMemoryBytes();
  const double Need = runBytes(C, Replicas, InFlight, ElemBytes);
  if (LimitBytes <= 0 || Need <= LimitBytes)
    return llvm::Error::success();
  constexpr double GiB = 1024.0 * 1024 * 1024;
  return userError("pfc-run: error: the model to run (hidden {}, ffn {}, {} layers, sequence "
                   "{}, vocabulary {}, micro-batch {}) needs about {:.1f} GiB for {} "
                   "replica(s) and {} micro-batches in flight, more than this machine's {:.1f} "
                   "GiB; scale it down with --hidden, --seq, --micro-batch, --vocab or "
                   "--layers-per-stage",
                   C.Hidden, C.Ffn, C.Layers, C.Seq, C.Vocab, C.MicroBatch, Need / GiB, Replicas,
                   InFlight, LimitBytes / GiB);
}

Batch syntheticBatch(const ModelConfig &C, uint64_t Seed, int32_t Index, int32_t Sequences) {
  Rng Map = Rng::derive(Seed, 0);
  std::vector<int32_t> Next(static_cast<size_t>(C.Vocab));
  for (auto &N : Next)
    N = static_cast<int32_t>(Map.below(C.Vocab));
  Rng R = Rng::derive(Seed, static_cast<uint64_t>(Index) + 1);
  Batch B;
  B.Sequences = Sequences;
  const size_t N = static_cast<size_t>(Sequences) * static_cast<size_t>(C.Seq);
  B.Tokens.resize(N);
  B.Targets.resize(N);
  for (size_t I = 0; I < N; ++I) {
    B.Tokens[I] = static_cast<int32_t>(R.below(C.Vocab));
    B.Targets[I] = R.uniform() < 0.8 ? Next[static_cast<size_t>(B.Tokens[I])]
                                     : static_cast<int32_t>(R.below(C.Vocab));
  }
  return B;
}

Batch concatBatches(std::span<const Batch> Parts) {
  Batch B;
  for (const Batch &P : Parts) {
    B.Sequences += P.Sequences;
    B.Tokens.insert(B.Tokens.end(), P.Tokens.begin(), P.Tokens.end());
    B.Targets.insert(B.Targets.end(), P.Targets.begin(), P.Targets.end());
  }
  return B;
}

template <typename T>
Model<T>::Model(const ModelConfig &C)
    : Embed("embed", C.Vocab, C.Hidden, C.Seq), Head("head", C.Hidden, C.Vocab), Cfg(C) {
  const double Std = 1.0 / std::sqrt(double(C.Hidden));
  const double ResidualStd = Std / std::sqrt(2.0 * C.Layers);
  Rng R0 = Rng::derive(C.Seed, 0);
  Embed.init(R0, 1.0);
  for (int32_t L = 1; L <= C.Layers; ++L) {
    Blocks.push_back(std::make_unique<Block<T>>("block" + std::to_string(L), C.Hidden, C.Ffn,
                                                C.Heads, C.Seq));
    Rng R = Rng::derive(C.Seed, static_cast<uint64_t>(L));
    Blocks.back()->init(R, Std, ResidualStd);
  }
  Rng RH = Rng::derive(C.Seed, static_cast<uint64_t>(C.Layers) + 1);
  Head.init(RH, Std);
}

template <typename T>
Tensor<T> Model<T>::forward(int32_t Begin, int32_t End, int32_t Mb, const Batch &Data,
                            const Tensor<T> &In) {
  assert(0 <= Begin && Begin < End && End <= numLayers() && "Model: bad layer range");
  Tensor<T> X;
  const Tensor<T> *Cur = &In;
  for (int32_t L = Begin; L < End; ++L) {
    if (L == 0)
      X = Embed.forward(Mb, Data.Tokens);
    else if (L <= Cfg.Layers)
      X = Blocks[static_cast<size_t>(L - 1)]->forward(Mb, *Cur);
    else
      X = Tensor<T>::vector(1, static_cast<T>(Head.forward(Mb, *Cur, Data.Targets)));
    Cur = &X;
  }
  return X;
}

template <typename T>
Tensor<T> Model<T>::backward(int32_t Begin, int32_t End, int32_t Mb, const Tensor<T> &DOut,
                             T LossScale) {
  assert(0 <= Begin && Begin < End && End <= numLayers() && "Model: bad layer range");
  Tensor<T> D;
  const Tensor<T> *Cur = &DOut;
  for (int32_t L = End - 1; L >= Begin; --L) {
    if (L == 0) {
      Embed.backward(Mb, *Cur);
      return {};
    }
    if (L <= Cfg.Layers)
      D = Blocks[static_cast<size_t>(L - 1)]->backward(Mb, *Cur);
    else
      D = Head.backward(Mb, LossScale);
    Cur = &D;
  }
  return D;
}

template <typename T> ParamList<T> Model<T>::params(int32_t Begin, int32_t End) {
  ParamList<T> P;
  for (int32_t L = Begin; L < End; ++L) {
    ParamList<T> Part = L == 0            ? Embed.params()
                        : L <= Cfg.Layers ? Blocks[static_cast<size_t>(L - 1)]->params()
                                          : Head.params();
    P.insert(P.end(), Part.begin(), Part.end());
  }
  return P;
}

template <typename T> std::vector<Linear<T> *> Model<T>::linears(int32_t Begin, int32_t End) {
  std::vector<Linear<T> *> Out;
  for (int32_t L = std::max(Begin, 1); L < End; ++L) {
    auto Part = L <= Cfg.Layers ? Blocks[static_cast<size_t>(L - 1)]->linears() : Head.linears();
    Out.insert(Out.end(), Part.begin(), Part.end());
  }
  return Out;
}

template <typename T> void Model<T>::zeroGrad() {
  for (Param<T> *P : params())
    P->zeroGrad();
}

template class Model<float>;
template class Model<double>;

} // namespace pfc::interp
