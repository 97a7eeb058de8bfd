//===- StepRunner.h - what each task of a step does, for both backends -----===//
//
// The task dispatch of one step, shared by the CPU runner (Executor.cpp) and
// the CUDA runner (cuda/CudaExecutor.cpp). A task's output tensor sits in
// its slot of Outputs until its single consumer moves it out: the next
// stage's compute task on the same device, or the SEND that posts it to the
// slot its RECV reads. The walker's mutex hand-off orders a slot's write
// before its read. The last stage's forward records its micro-batch's loss.
// ALL_REDUCE sums the members' gradients in task id order, FACTOR_ALL_REDUCE
// their K-FAC factor sums (KfacTasks.h); the K-FAC tasks go to KfacTasks; a
// K-FAC stage's OPTIMIZER_STEP may be deferred to the end of the step.
//
// The backend's work takes the extra arguments Ctx given to run() and
// reduce() (none on the CPU, the device's lane on the GPU): ModelT's
// backward, OptT's step and KfacT's calls take them first, and so do the
// backend's forwardStage (a stage's forward, the loss at the last stage) and
// sumReplicaGrads (every list's gradients become their sum).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_STEPRUNNER_H
#define PFC_BACKENDS_INTERP_STEPRUNNER_H

#include "ExecutorShared.h"
#include "Model.h"
#include "PlanWalker.h"

namespace pfc::interp {

/// The CPU's forwardStage: stage \p St's forward of micro-batch \p Mb; at
/// the last stage the loss goes to \p Loss (the output is then unused).
template <typename T>
Tensor<T> forwardStage(Model<T> &M, const Stage &St, int32_t Mb, const Batch &Data,
                       const Tensor<T> &In, double &Loss) {
  Tensor<T> Out = M.forward(St.LayerBegin, St.LayerEnd, Mb, Data, In);
  if (St.LayerEnd == M.numLayers())
    Loss = static_cast<double>(Out[0]);
  return Out;
}

/// The CPU's sumReplicaGrads: the I-th parameter of every list gets the sum
/// of their gradients, added in list order.
template <typename T> void sumReplicaGrads(const std::vector<ParamList<T>> &Lists) {
  for (size_t I = 0; I < Lists[0].size(); ++I) {
    Tensor<T> Sum = Lists[0][I]->Grad;
    for (size_t R = 1; R < Lists.size(); ++R)
      addScaled(Sum, Lists[R][I]->Grad);
    for (auto &L : Lists)
      L[I]->Grad = Sum;
  }
}

template <typename T, typename ModelT, typename OptT, typename KfacT, typename TensorT>
class StepRunner {
public:
  StepRunner(const PlanWalker &W, const std::vector<ModelT *> &Replicas,
             const std::vector<OptT *> &Optimizers, KfacT &Kfac, std::span<const Batch> Batches,
             T LossScale)
      : W(W), P(W.program()), Replicas(Replicas), Optimizers(Optimizers), Kfac(Kfac),
        Batches(Batches), Outputs(P.Tasks.size()), Losses(Batches.size(), 0.0),
        LossScale(LossScale) {}

  bool skipped(const Task &Tk) const { return isCycleTask(Tk.Kind) && !Kfac.runs(Tk); }
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const {
    return Kfac.satisfiedEarlier(Tk, Pred);
  }
  StepResult result() const { return stepLoss(Losses, Batches, static_cast<double>(LossScale)); }

  template <typename... Ctx> void run(TaskId Id, Ctx &...C) {
    const Task &Tk = P.Tasks[Id];
    switch (Tk.Kind) {
    case proto::FORWARD:
    case proto::BACKWARD: {
      const Stage &St = P.Stages[Tk.Stage];
      ModelT &M = *Replicas[static_cast<size_t>(St.Pipeline)];
      const int32_t Mb = Tk.Microbatch;
      const TaskId From = W.producer(Id);
      TensorT In = From == NoTask ? TensorT() : std::move(Outputs[From]);
      if (Tk.Kind == proto::FORWARD) {
        double Loss = 0;
        TensorT Out = forwardStage(C..., M, St, Mb, Batches[Mb], In, Loss);
        if (St.LayerEnd == M.numLayers())
          Losses[static_cast<size_t>(Mb)] = Loss;
        else
          Outputs[Id] = std::move(Out);
      } else {
        Outputs[Id] = M.backward(C..., St.LayerBegin, St.LayerEnd, Mb, In, LossScale);
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
      Kfac.curvature(Tk, C...);
      break;
    case proto::INVERT_A:
    case proto::INVERT_B:
      Kfac.invert(Tk, C...);
      break;
    case proto::PRECONDITION:
      Kfac.precondition(Tk, C...);
      break;
    case proto::OPTIMIZER_STEP:
      if (Kfac.deferStep(Tk, C...))
        break; // updated by KfacTasks::applyDeferred after the walk
      if (OptT *Opt = Optimizers[static_cast<size_t>(Tk.Stage)])
        Opt->step(C...);
      break;
    default:
      break; // checkRunnable rejects every other kind
    }
  }

  /// Sums the group's gradients (in task id order, so the result is
  /// deterministic) or K-FAC factor sums and gives every member the sum.
  template <typename... Ctx> void reduce(std::span<const TaskId> Members, Ctx &...C) {
    if (P.Tasks[Members[0]].Kind == proto::FACTOR_ALL_REDUCE) {
      std::vector<int32_t> Stages;
      for (TaskId Member : Members)
        Stages.push_back(P.Tasks[Member].Stage);
      Kfac.sumFactors(P.Tasks[Members[0]].Layer, P.Tasks[Members[0]].LayerCount, Stages, C...);
      return;
    }
    std::vector<decltype(Replicas[0]->params(0, 1))> Lists;
    for (TaskId Member : Members) {
      const Stage &MSt = P.Stages[P.Tasks[Member].Stage];
      Lists.push_back(
          Replicas[static_cast<size_t>(MSt.Pipeline)]->params(MSt.LayerBegin, MSt.LayerEnd));
    }
    sumReplicaGrads(C..., Lists);
  }

private:
  const PlanWalker &W;
  const Program &P;
  const std::vector<ModelT *> &Replicas;
  const std::vector<OptT *> &Optimizers;
  KfacT &Kfac;
  std::span<const Batch> Batches;
  std::vector<TensorT> Outputs;
  std::vector<double> Losses;
  T LossScale = 1;
};

} // namespace pfc::interp

#endif
