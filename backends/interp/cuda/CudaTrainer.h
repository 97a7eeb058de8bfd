//===- CudaTrainer.h - what pfc-run needs to train a plan on the GPU -------===//
//
// Bundles a setup lane, one GPU model per pipeline (uploaded from the CPU
// replicas, so both backends start from the same weights), one GPU
// optimizer per stage (SGD, AdamW or plan-driven K-FAC on the stage's
// blocks, as pfc-run sets them up on the CPU) and the CUDA executor. pfc-run builds its CPU
// replicas as always, trains through this instead of the CPU executor and
// downloads the trained parameters into the CPU replicas for validation and
// reports.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDATRAINER_H
#define PFC_BACKENDS_INTERP_CUDA_CUDATRAINER_H

#include "CudaExecutor.h"

namespace pfc::interp::cuda {

struct TrainerOptions {
  enum Kind { Sgd, Adam, Kfac } Optimizer = Sgd;
  SgdOptions SgdOpts;
  AdamOptions AdamOpts;
  KfacOptions KfacOpts;   ///< plan-driven K-FAC on each stage's blocks
  int32_t KfacWarmup = 0; ///< steps refreshing K-FAC every step
};

template <typename T> class Trainer {
public:
  /// Fails with exit code ExitNoDevice without a GPU, or as Executor::create.
  static llvm::Expected<std::unique_ptr<Trainer>>
  create(const Program &P, const std::vector<interp::Model<T> *> &CpuReplicas,
         const TrainerOptions &O);

  llvm::Expected<StepResult> runStep(std::span<const Batch> Batches) {
    return Exec->runStep(Batches);
  }
  /// Sets every stage's optimizer's η (a schedule's rate, before a step).
  void setLearningRate(double Lr) {
    for (const std::unique_ptr<Optimizer<T>> &O : Opts)
      O->setLearningRate(Lr);
  }
  /// K-FAC: the KL-clip factor ν of the last step (the same on every stage);
  /// 1 for the other optimizers.
  double klClip() const;
  /// Copies the GPU parameters and gradients into \p CpuReplicas.
  llvm::Error download(const std::vector<interp::Model<T> *> &CpuReplicas);

private:
  Trainer() = default;
  std::unique_ptr<Lane> Setup;
  std::vector<std::unique_ptr<Model<T>>> Models;
  std::vector<std::unique_ptr<Optimizer<T>>> Opts;
  std::unique_ptr<Executor<T>> Exec;
};

extern template class Trainer<float>;
extern template class Trainer<double>;

} // namespace pfc::interp::cuda

#endif
