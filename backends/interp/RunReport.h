//===- RunReport.h - what pfc-run writes: losses, loss plot, profile -------===//
//
// Text only, so the driver writes each file atomically. The profile is one
// row in the PipeFisher per-block format that `pfc compile --profile`
// reads (shared/profiles/pipefisher/README.md): measured times per block of
// forward, backward, curvature A+B of one micro-batch, inversion A+B and
// preconditioning, in ms, and pfc's extension columns for the embedding,
// the head and the optimizer step (docs/inputs.md); the mem_* columns (MiB)
// are computed from the scaled model's sizes, not measured.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_RUNREPORT_H
#define PFC_BACKENDS_INTERP_RUNREPORT_H

#include "Model.h"

#include "ir/Program.h"

#include <span>
#include <string>

namespace pfc::interp {

struct LossCurve {
  std::string Name;
  std::vector<std::pair<int64_t, double>> Points; ///< (step, loss)
};

/// One row per step of the first curve: step,loss,tokens_per_s,step_ms
/// (and a valid_loss column when a second curve holds that step).
std::string lossCsv(const LossCurve &Train, const LossCurve *Valid,
                    std::span<const double> TokensPerS, std::span<const double> StepMs);
/// A line plot of \p Curves (loss against step), one colour each.
std::string lossSvg(std::span<const LossCurve> Curves, const std::string &Title);

/// Forward and backward of each layer (0 = embedding, 1..L = blocks, L+1 =
/// head) run alone for one micro-batch, in ms: the median of \p Reps runs.
/// Leaves the parameter gradients changed (the next step zeroes them).
struct LayerTimes {
  std::vector<double> Forward, Backward;
};
template <typename T> LayerTimes timeLayers(Model<T> &M, const Batch &B, int Reps);

/// What --profile-out writes, per block unless named otherwise (ms).
struct BlockTimes {
  double Forward = 0, Backward = 0, Kron = 0, Inv = 0, Prec = 0;
  double EmbedForward = 0, EmbedBackward = 0, HeadForward = 0, HeadBackward = 0;
  double Optimizer = 0; ///< optimizer step over one block's parameters
};
/// The profile of a run. \p TaskMs holds each measured step's per-task
/// times (-1: not run); each task counts with its mean over the steps.
/// Forward and backward: the plan's FORWARD/BACKWARD tasks cover whole
/// stages, so the layers' times alone (\p Alone) are scaled by the ratio of
/// the tasks' measured sum to the sum the layers alone predict for them
/// (running beside the other devices' threads is slower than alone).
/// Optimizer: the OPTIMIZER_STEP tasks' time per parameter (\p StageParams:
/// parameters per stage; under ZeRO a step updates its shard, the stage's
/// parameters over its copies) times \p BlockParams.
BlockTimes measureBlockTimes(const Program &P, std::span<const std::vector<double>> TaskMs,
                             const LayerTimes &Alone, std::span<const int64_t> StageParams,
                             int64_t BlockParams);
/// Parameters of one block of \p C (as the cost model counts them).
int64_t blockParams(const ModelConfig &C);
/// The profile row: PipeFisher's columns, then pfc's extension columns
/// time_f_embed, time_b_embed, time_f_head, time_b_head, time_opt.
std::string profileCsv(const BlockTimes &Times, const ModelConfig &C, int32_t BytesPerValue);

/// Per task kind: tasks run per step, and the plan's and the measured time
/// per step (sums over the kind's tasks, means over the measured steps): where
/// a prediction differs from the measurement.
std::string taskKindTable(const Program &P, std::span<const std::vector<double>> TaskMs);

extern template LayerTimes timeLayers(Model<float> &, const Batch &, int);
extern template LayerTimes timeLayers(Model<double> &, const Batch &, int);

} // namespace pfc::interp

#endif
