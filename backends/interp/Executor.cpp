//===- Executor.cpp - runs one training step of a plan on the CPU ----------===//
//
// The CPU TaskRunner: StepRunner.h's dispatch with host tensors, on the
// walker's threads; ZeRO's collectives go to ZeroCollectives.
//
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include "Blas.h"
#include "StepRunner.h"

#include "ir/Diagnostics.h"

#include <chrono>

namespace pfc::interp {
namespace {

template <typename T> class CpuRunner : public TaskRunner {
public:
  CpuRunner(const PlanWalker &W, const std::vector<Model<T> *> &Replicas,
            const std::vector<Optimizer<T> *> &Optimizers, KfacTasks<T> &Kfac,
            ZeroCollectives<T> &Zero, std::span<const Batch> Batches, T LossScale)
      : P(W.program()), Step(W, Replicas, Optimizers, Kfac, Batches, LossScale), Zero(Zero) {}

  bool skipped(const Task &Tk) const override { return Step.skipped(Tk); }
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const override {
    return Step.satisfiedEarlier(Tk, Pred);
  }
  StepResult result() const { return Step.result(); }

  llvm::Error run(TaskId Id) override {
    Step.run(Id);
    Zero.afterTask(Id);
    return llvm::Error::success();
  }
  llvm::Error reduce(std::span<const TaskId> Members) override {
    const TaskKind Kind = P.Tasks[Members[0]].Kind;
    if (Kind == proto::REDUCE_SCATTER)
      Zero.reduceScatter(Members);
    else if (Kind == proto::ALL_GATHER)
      Zero.allGather(Members);
    else
      Step.reduce(Members);
    return llvm::Error::success();
  }

private:
  const Program &P;
  StepRunner<T, Model<T>, Optimizer<T>, KfacTasks<T>, Tensor<T>> Step;
  ZeroCollectives<T> &Zero;
};

} // namespace

template <typename T>
Executor<T>::Executor(const Program &P, std::vector<Model<T> *> Rs, ZeroPlan Z)
    : Prog(&P), Walker(std::make_unique<PlanWalker>(P)), Replicas(std::move(Rs)),
      Optimizers(P.Stages.size(), nullptr), Kfac(std::make_unique<KfacTasks<T>>(P, Replicas)),
      StepTasks(optimizerStepTasks(P)),
      Zero(std::make_unique<ZeroCollectives<T>>(P, std::move(Z), Replicas)) {}

template <typename T> void Executor<T>::setOptimizer(int32_t Stage, Optimizer<T> *Opt) {
  Optimizers[static_cast<size_t>(Stage)] = Opt;
  auto *K = dynamic_cast<KfacOptimizer<T> *>(Opt);
  bool Sharded = false;
  if (Opt && Zero->zero() > 0) {
    const auto [Begin, End] = Zero->shard(Stage);
    Sharded = Opt->shard(Begin, End);
    if (!Sharded && UnshardedOptimizer.empty())
      UnshardedOptimizer = fmt::format(
          "pfc-run: error: stage {}'s optimizer ({}) cannot update a shard of the stage, which "
          "this ZeRO-{} plan needs; use sgd, adam, or kfac driven by the plan's tasks without "
          "--kfac-embedding",
          Stage, Opt->name(), Zero->zero());
  }
  Kfac->setOptimizer(Stage, K && K->options().PlanDriven ? K : nullptr, Sharded);
  if (Zero->zero() > 0)
    Zero->setCompanion(Stage, K && Sharded ? K->clipGradient() : nullptr);
}

template <typename T>
llvm::Expected<Executor<T>> Executor<T>::create(const Program &P,
                                                std::vector<Model<T> *> Replicas) {
  if (llvm::Error E = checkExecutable(P, Replicas, "CPU"))
    return E;
  llvm::Expected<ZeroPlan> Z = analyzeZeroPlan(P);
  if (!Z)
    return Z.takeError();
  return Executor(P, std::move(Replicas), std::move(*Z));
}

template <typename T>
llvm::Expected<StepResult> Executor<T>::runStep(std::span<const Batch> Batches) {
  if (llvm::Error E = checkBatches(*Prog, Batches))
    return E;
  if (!UnshardedOptimizer.empty())
    return userError("{}", UnshardedOptimizer);
  setBlasThreads(1);
  for (Model<T> *M : Replicas)
    M->zeroGrad();
  const T LossScale = stepLossScale<T>(Batches);
  Kfac->beginStep(Steps, LossScale);
  Zero->beginStep();
  const auto Start = std::chrono::steady_clock::now();
  CpuRunner<T> Run(*Walker, Replicas, Optimizers, *Kfac, *Zero, Batches, LossScale);
  std::vector<double> TaskMs;
  llvm::Error Walked = Walker->walk(Run, TaskMs);
  Zero->endStep(); // whole parameters for the caller, also after a failure
  if (Walked)
    return Walked;
  Kfac->finishWarmup([&](int32_t Stage, auto &&Body) {
    const auto Begin = std::chrono::steady_clock::now();
    Body();
    const std::chrono::duration<double, std::milli> Ms = std::chrono::steady_clock::now() - Begin;
    TaskMs[static_cast<size_t>(StepTasks[static_cast<size_t>(Stage)])] += Ms.count();
  });
  const bool ShardsStepped =
      Kfac->applyDeferred([&](KfacOptimizer<T> &Opt, int32_t Stage, double Nu) {
        const auto Begin = std::chrono::steady_clock::now();
        Opt.stepWithClip(Nu);
        const std::chrono::duration<double, std::milli> Ms =
            std::chrono::steady_clock::now() - Begin;
        TaskMs[static_cast<size_t>(StepTasks[static_cast<size_t>(Stage)])] += Ms.count();
      });
  if (ShardsStepped)
    Zero->gatherAll(); // the plan's gathers ran before the clipped updates

  const std::chrono::duration<double, std::milli> Took = std::chrono::steady_clock::now() - Start;
  Kfac->endStep();
  ++Steps;
  StepResult R = Run.result();
  R.TaskMs = std::move(TaskMs);
  R.StepMs = Took.count();
  return R;
}

template class Executor<float>;
template class Executor<double>;

} // namespace pfc::interp
