//===- RunReport.h - what pfc-run writes: losses, loss plot, profile -------===//
//
// Text only, so the driver writes each file atomically. The profile is one
// row in the PipeFisher per-block format that `pfc compile --profile`
// reads (shared/profiles/pipefisher/README.md): measured means per block of
// forward, backward, curvature A+B of one micro-batch, inversion A+B and
// preconditioning, in ms; the mem_* columns (MiB) are computed from the
// scaled model's sizes, not measured.
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

/// Measured mean durations per block; \p TaskMs holds each measured step's
/// per-task times (-1: not run).
struct BlockTimes {
  double Forward = 0, Backward = 0, Kron = 0, Inv = 0, Prec = 0;
};
BlockTimes measureBlockTimes(const Program &P, std::span<const std::vector<double>> TaskMs);
std::string profileCsv(const BlockTimes &Times, const ModelConfig &C, int32_t BytesPerValue);

} // namespace pfc::interp

#endif
