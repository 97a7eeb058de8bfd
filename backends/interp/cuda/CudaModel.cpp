//===- CudaModel.cpp - the Transformer LM on the GPU, split like the plan --===//
#include "CudaModel.h"

#include "Kernels.h"

namespace pfc::interp::cuda {

template <typename T>
Model<T>::Model(const interp::Model<T> &Cpu, Lane &L)
    : Embed(Cpu.Embed, L), Head(Cpu.Head, L), Cfg(Cpu.config()) {
  for (const auto &B : Cpu.Blocks)
    Blocks.push_back(std::make_unique<Block<T>>(*B, L, Cfg.Heads, Cfg.Seq));
  L.sync();
}

template <typename T>
DeviceTensor<T> Model<T>::forward(Lane &L, int32_t Begin, int32_t End, int32_t Mb,
                                  const Batch &Data, const DeviceTensor<T> &In, double *Loss) {
  assert(0 <= Begin && Begin < End && End <= numLayers() && "Model: bad layer range");
  DeviceTensor<T> X;
  const DeviceTensor<T> *Cur = &In;
  for (int32_t Layer = Begin; Layer < End; ++Layer) {
    if (Layer == 0) {
      X = Embed.forward(L, Mb, Data.Tokens);
    } else if (Layer <= Cfg.Layers) {
      X = Blocks[static_cast<size_t>(Layer - 1)]->forward(L, Mb, *Cur);
    } else {
      const double V = Head.forward(L, Mb, *Cur, Data.Targets);
      if (Loss)
        *Loss = V;
      X = DeviceTensor<T>();
    }
    Cur = &X;
  }
  return X;
}

template <typename T>
DeviceTensor<T> Model<T>::backward(Lane &L, int32_t Begin, int32_t End, int32_t Mb,
                                   const DeviceTensor<T> &DOut, T LossScale) {
  assert(0 <= Begin && Begin < End && End <= numLayers() && "Model: bad layer range");
  DeviceTensor<T> D;
  const DeviceTensor<T> *Cur = &DOut;
  for (int32_t Layer = End - 1; Layer >= Begin; --Layer) {
    if (Layer == 0) {
      Embed.backward(L, Mb, *Cur);
      return {};
    }
    if (Layer <= Cfg.Layers)
      D = Blocks[static_cast<size_t>(Layer - 1)]->backward(L, Mb, *Cur);
    else
      D = Head.backward(L, Mb, LossScale);
    Cur = &D;
  }
  return D;
}

template <typename T> DeviceParamList<T> Model<T>::params(int32_t Begin, int32_t End) {
  DeviceParamList<T> P;
  for (int32_t Layer = Begin; Layer < End; ++Layer) {
    DeviceParamList<T> Part = Layer == 0             ? Embed.params()
                              : Layer <= Cfg.Layers ? Blocks[static_cast<size_t>(Layer - 1)]->params()
                                                    : Head.params();
    P.insert(P.end(), Part.begin(), Part.end());
  }
  return P;
}

template <typename T> std::vector<Linear<T> *> Model<T>::linears(int32_t Begin, int32_t End) {
  std::vector<Linear<T> *> Out;
  for (int32_t Layer = std::max(Begin, 1); Layer < End; ++Layer) {
    auto Part = Layer <= Cfg.Layers ? Blocks[static_cast<size_t>(Layer - 1)]->linears()
                                    : Head.linears();
    Out.insert(Out.end(), Part.begin(), Part.end());
  }
  return Out;
}

template <typename T> void Model<T>::zeroGrad(Lane &L) {
  for (DeviceParam<T> *P : params())
    P->Grad.zero(L.stream());
}

template <typename T> void Model<T>::download(Lane &L, interp::Model<T> &Cpu) {
  DeviceParamList<T> Dev = params();
  ParamList<T> Host = Cpu.params();
  assert(Dev.size() == Host.size() && "Model::download: different models");
  for (size_t I = 0; I < Dev.size(); ++I) {
    Host[I]->Value = Dev[I]->Value.download(L.stream());
    Host[I]->Grad = Dev[I]->Grad.download(L.stream());
  }
}

template class Model<float>;
template class Model<double>;

} // namespace pfc::interp::cuda
