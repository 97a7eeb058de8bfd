//===- Executor.cpp - runs one training step of a plan on the CPU ----------===//
//
// The CPU TaskRunner. A task's output tensor sits in its slot of Outputs
// until its single consumer moves it out: the next stage's compute task on
// the same device, or the SEND that posts it to the channel its RECV reads.
// The walker's mutex hand-off orders a slot's write before its read.
//
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include "Blas.h"

#include "ir/Diagnostics.h"

#include <chrono>

namespace pfc::interp {
namespace {

template <typename T> class CpuRunner : public TaskRunner {
public:
  CpuRunner(const PlanWalker &W, const std::vector<Model<T> *> &Replicas,
            const std::vector<Optimizer<T> *> &Optimizers, KfacTasks<T> &Kfac,
            std::span<const Batch> Batches, T LossScale)
      : W(W), P(W.program()), Replicas(Replicas), Optimizers(Optimizers), Kfac(Kfac),
        Batches(Batches), Outputs(P.Tasks.size()), Losses(Batches.size(), 0.0),
        LossScale(LossScale) {}

  bool skipped(const Task &Tk) const override { return isCycleTask(Tk.Kind) && !Kfac.runs(Tk); }
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const override {
    return Kfac.satisfiedEarlier(Tk, Pred);
  }

  StepResult result() const {
    StepResult R;
    R.MicrobatchLoss = Losses;
    for (size_t I = 0; I < Losses.size(); ++I)
      R.Loss += Losses[I] * static_cast<double>(Batches[I].Tokens.size()) *
                static_cast<double>(LossScale);
    return R;
  }

  llvm::Error run(TaskId Id) override {
    const Task &Tk = P.Tasks[Id];
    switch (Tk.Kind) {
    case proto::FORWARD:
    case proto::BACKWARD: {
      const Stage &St = P.Stages[Tk.Stage];
      Model<T> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
      const int32_t Mb = Tk.Microbatch;
      const TaskId From = W.producer(Id);
      Tensor<T> In = From == NoTask ? Tensor<T>() : std::move(Outputs[From]);
      if (Tk.Kind == proto::FORWARD) {
        Tensor<T> Out = M.forward(St.LayerBegin, St.LayerEnd, Mb, Batches[Mb], In);
        if (St.LayerEnd == M.numLayers())
          Losses[static_cast<size_t>(Mb)] = static_cast<double>(Out[0]);
        else
          Outputs[Id] = std::move(Out);
      } else {
        Outputs[Id] = M.backward(St.LayerBegin, St.LayerEnd, Mb, In, LossScale);
      }
      break;
    }
    case proto::SEND_ACTIVATION:
    case proto::SEND_GRADIENT:
      if (TaskId From = W.producer(Id); From != NoTask)
        Outputs[Id] = std::move(Outputs[From]);
      break;
    case proto::RECV_ACTIVATION:
    case proto::RECV_GRADIENT:
      Outputs[Id] = std::move(Outputs[Tk.Peer]);
      break;
    case proto::CURVATURE_A:
    case proto::CURVATURE_B:
      Kfac.curvature(Tk);
      break;
    case proto::INVERT_A:
    case proto::INVERT_B:
      Kfac.invert(Tk);
      break;
    case proto::PRECONDITION:
      Kfac.precondition(Tk);
      break;
    case proto::OPTIMIZER_STEP:
      if (Optimizer<T> *Opt = Optimizers[static_cast<size_t>(Tk.Stage)])
        Opt->step();
      break;
    default:
      break; // checkRunnable rejects every other kind
    }
    return llvm::Error::success();
  }

  /// Sums the group's gradients (in task id order, so the result is
  /// deterministic) or K-FAC factor sums and gives every member the sum.
  llvm::Error reduce(std::span<const TaskId> Members) override {
    if (P.Tasks[Members[0]].Kind == proto::FACTOR_ALL_REDUCE) {
      std::vector<int32_t> Stages;
      for (TaskId Member : Members)
        Stages.push_back(P.Tasks[Member].Stage);
      Kfac.sumFactors(P.Tasks[Members[0]].Layer, Stages);
      return llvm::Error::success();
    }
    std::vector<ParamList<T>> Lists;
    for (TaskId Member : Members) {
      const Stage &MSt = P.Stages[P.Tasks[Member].Stage];
      Lists.push_back(Replicas[static_cast<size_t>(MSt.Pipeline)]->params(MSt.LayerBegin,
                                                                          MSt.LayerEnd));
    }
    for (size_t I = 0; I < Lists[0].size(); ++I) {
      Tensor<T> Sum = Lists[0][I]->Grad;
      for (size_t R = 1; R < Lists.size(); ++R)
        addScaled(Sum, Lists[R][I]->Grad);
      for (auto &L : Lists)
        L[I]->Grad = Sum;
    }
    return llvm::Error::success();
  }

private:
  const PlanWalker &W;
  const Program &P;
  const std::vector<Model<T> *> &Replicas;
  const std::vector<Optimizer<T> *> &Optimizers;
  KfacTasks<T> &Kfac;
  std::span<const Batch> Batches;
  std::vector<Tensor<T>> Outputs;
  std::vector<double> Losses;
  T LossScale = 1;
};

} // namespace

template <typename T>
Executor<T>::Executor(const Program &P, std::vector<Model<T> *> Rs)
    : Prog(&P), Walker(std::make_unique<PlanWalker>(P)), Replicas(std::move(Rs)),
      Optimizers(P.Stages.size(), nullptr), Kfac(std::make_unique<KfacTasks<T>>(P, Replicas)) {}

template <typename T> void Executor<T>::setOptimizer(int32_t Stage, Optimizer<T> *Opt) {
  Optimizers[static_cast<size_t>(Stage)] = Opt;
  auto *K = dynamic_cast<KfacOptimizer<T> *>(Opt);
  Kfac->setOptimizer(Stage, K && K->options().PlanDriven ? K : nullptr);
}

template <typename T>
llvm::Expected<Executor<T>> Executor<T>::create(const Program &P,
                                                std::vector<Model<T> *> Replicas) {
  int32_t Layers = P.Model.num_layers(); // the first replica that differs, if any
  for (Model<T> *M : Replicas)
    if (M->config().Layers != Layers) {
      Layers = M->config().Layers;
      break;
    }
  if (llvm::Error E = PlanWalker::checkRunnable(P, Replicas.size(), Layers, "CPU"))
    return E;
  return Executor(P, std::move(Replicas));
}

template <typename T>
llvm::Expected<StepResult> Executor<T>::runStep(std::span<const Batch> Batches) {
  for (const Task &Tk : Prog->Tasks)
    if (Tk.Microbatch >= static_cast<int32_t>(Batches.size()))
      return userError("pfc-run: error: the plan runs micro-batch {}, {} were given",
                       Tk.Microbatch, Batches.size());
  setBlasThreads(1);
  for (Model<T> *M : Replicas)
    M->zeroGrad();
  int64_t Rows = 0;
  for (const Batch &B : Batches)
    Rows += static_cast<int64_t>(B.Tokens.size());
  const T LossScale = T(1) / static_cast<T>(Rows);
  Kfac->beginStep(Steps, LossScale);
  const auto Start = std::chrono::steady_clock::now();
  CpuRunner<T> Run(*Walker, Replicas, Optimizers, *Kfac, Batches, LossScale);
  std::vector<double> TaskMs;
  if (llvm::Error E = Walker->walk(Run, TaskMs))
    return E;
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
