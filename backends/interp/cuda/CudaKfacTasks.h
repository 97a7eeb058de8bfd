//===- CudaKfacTasks.h - the plan's K-FAC tasks on the GPU -----------------===//
//
// The GPU twin of KfacTasks.h, same semantics (read them there): a cycle
// task runs in the step whose phase is its cycle_step; curvature with
// data_lag 1 uses the previous step's saved tensors; a curvature piece adds
// its share of the rows; INVERT_A/B fold their factor on the last piece and
// the later of the pair computes the pending inverses, active from the next
// cycle; FACTOR_ALL_REDUCE sums the replicas' raw sums and row counts; the
// optional warm-up refreshes every step from each stage's PRECONDITION.
// Every call issues on the lane of the device running the task.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAKFACTASKS_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAKFACTASKS_H

#include "CudaKfacOptimizer.h"
#include "CudaModel.h"

#include "ir/Program.h"

#include <map>

namespace pfc::interp::cuda {

template <typename T> class KfacTasks {
public:
  KfacTasks(const Program &P, const std::vector<Model<T> *> &Replicas);

  void setOptimizer(int32_t Stage, KfacOptimizer<T> *Opt);
  void setWarmup(int32_t Steps) { Warmup = Steps; }
  /// Whether any stage has a K-FAC optimizer (else every cycle task is skipped).
  bool active() const;

  void beginStep(int64_t Step, T Scale);
  bool runs(const Task &Tk) const;
  bool satisfiedEarlier(const Task &Tk, const Task &Pred) const;

  void curvature(Lane &L, const Task &Tk);
  void invert(Lane &L, const Task &Tk);
  void precondition(Lane &L, const Task &Tk);
  void sumFactors(Lane &L, int32_t Layer, const std::vector<int32_t> &Stages);
  void endStep();

private:
  std::vector<size_t> layersOf(int32_t Stage, int32_t Layer) const;

  const Program &P;
  std::vector<Model<T> *> Replicas;
  std::vector<KfacOptimizer<T> *> Opts;
  struct LayerState {
    MicrobatchStore<DeviceTensor<T>> PrevInputs, PrevGrads;
    bool FoldedA = false, FoldedG = false;
  };
  std::vector<std::vector<LayerState>> States;
  std::map<std::tuple<int32_t, int32_t, int32_t, int32_t>, int32_t> Pieces;
  int32_t Warmup = 0, CycleSteps = 1, Phase = 0;
  bool WarmupStep = false;
  T Scale = 1, PrevScale = 1;
};

extern template class KfacTasks<float>;
extern template class KfacTasks<double>;

} // namespace pfc::interp::cuda

#endif
