//===- CudaTrainer.cpp - what pfc-run needs to train a plan on the GPU -----===//
#include "CudaTrainer.h"

namespace pfc::interp::cuda {

template <typename T>
llvm::Expected<std::unique_ptr<Trainer<T>>>
Trainer<T>::create(const Program &P, const std::vector<interp::Model<T> *> &CpuReplicas,
                   const TrainerOptions &O) {
  if (llvm::Error E = requireDevice())
    return E;
  std::unique_ptr<Trainer> Tr(new Trainer());
  Tr->Setup = Lane::create();
  if (!Tr->Setup)
    return takeCudaError();
  std::vector<Model<T> *> Replicas;
  for (interp::Model<T> *Cpu : CpuReplicas)
    Replicas.push_back(
        Tr->Models.emplace_back(std::make_unique<Model<T>>(*Cpu, *Tr->Setup)).get());
  if (llvm::Error E = takeCudaError())
    return E;
  auto Exec = Executor<T>::create(P, Replicas);
  if (!Exec)
    return Exec.takeError();
  Tr->Exec = std::move(*Exec);
  for (int32_t Id = 0; Id < P.numStages(); ++Id) {
    const Stage &St = P.Stages[Id];
    Model<T> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
    DeviceParamList<T> Params = M.params(St.LayerBegin, St.LayerEnd);
    if (O.Optimizer == TrainerOptions::Adam) {
      Tr->Opts.push_back(createAdamW(Params, O.AdamOpts, *Tr->Setup));
    } else if (O.Optimizer == TrainerOptions::Sgd) {
      Tr->Opts.push_back(createSgd(Params, O.SgdOpts, *Tr->Setup));
    } else {
      const int32_t Blocks = M.config().Layers;
      Tr->Opts.push_back(std::make_unique<KfacOptimizer<T>>(
          Params, M.linears(std::max(St.LayerBegin, 1), std::min(St.LayerEnd, Blocks + 1)),
          O.KfacOpts, *Tr->Setup));
    }
    Tr->Exec->setOptimizer(Id, Tr->Opts.back().get());
  }
  Tr->Exec->setKfacWarmup(O.KfacWarmup);
  Tr->Setup->sync();
  if (llvm::Error E = takeCudaError())
    return E;
  return Tr;
}

template <typename T>
llvm::Error Trainer<T>::download(const std::vector<interp::Model<T> *> &CpuReplicas) {
  for (size_t I = 0; I < Models.size() && I < CpuReplicas.size(); ++I)
    Models[I]->download(*Setup, *CpuReplicas[I]);
  return takeCudaError();
}

template <typename T> double Trainer<T>::klClip() const {
  const auto *K =
      Opts.empty() ? nullptr : dynamic_cast<const KfacOptimizer<T> *>(Opts.front().get());
  return K ? K->lastClip() : 1;
}

template class Trainer<float>;
template class Trainer<double>;

} // namespace pfc::interp::cuda
