//===- ScheduleLayered.cpp - breadth-first order on a looping pipeline -----===//
//
// Layered gradient accumulation on a modular (looping) pipeline
// (Lamy-Poirier 2021; "Breadth-First Pipeline Parallelism", 2022): P devices
// hold V*P stages, stage i on device i mod P (the partition pass places them
// so), and each device runs its stages layer-major — the forwards of all N
// micro-batches of its first stage, then of its second, ... — and the
// backwards in reverse stage order, each stage's N micro-batches in a row.
// With equal stage costs and free communication the step is
// (V*N + P - 1)(F + B) when N >= P, a bubble of (P-1)/(V*N+P-1), at the cost
// of V*N activation sets alive per device at the end of the forward phase
// (the depth-first looping order, schedule-interleaved, keeps fewer). What
// the order buys: a stage's gradients are complete after one run of N
// backwards, so their reduction overlaps the remaining backwards, and under
// ZeRO-3 a stage's weights are gathered once per phase rather than once per
// micro-batch (see zero-sync).
//
// The stages must be of equal size for the closed form: the pass rejects a
// model whose blocks do not split evenly into P*V stages.
//
//===----------------------------------------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

#include <algorithm>

namespace pfc {
namespace {

/// The values of --virtual-stages that split \p Blocks evenly over \p S devices.
std::string evenChoices(int32_t Blocks, int32_t S) {
  std::string Out;
  for (int32_t V = 1; V * S <= Blocks; ++V)
    if (Blocks % (V * S) == 0)
      Out += (Out.empty() ? "" : ", ") + std::to_string(V);
  return Out;
}

class ScheduleLayeredPass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-layered"; }

  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = checkScheduleInputs(P, "layered", /*AllowVirtual=*/true))
      return E;
    const int32_t N = P.Options.microbatches();
    const int32_t S = P.numDevices();
    const int32_t V = std::max(1, P.Options.virtual_stages());
    const int32_t Blocks = P.Model.num_layers();
    if (Blocks > 0 && Blocks % (S * V) != 0) {
      std::string Choices = evenChoices(Blocks, S);
      return userError("pfc: error: the layered schedule needs the model's {} blocks to "
                       "split evenly into --stages {} x --virtual-stages {} = {} stages; {}",
                       Blocks, S, V, S * V,
                       Choices.empty()
                           ? fmt::format("no --virtual-stages does with --stages {}", S)
                           : fmt::format("use --virtual-stages {}", Choices));
    }
    if (llvm::Error E = checkLoopingPlacement(P, "layered", S, V))
      return E;
    const auto Line = stagesByPipeline(P)[0];

    DeviceOrders Orders(S);
    for (int32_t Dev = 0; Dev < S; ++Dev) {
      auto &Order = Orders[Dev];
      Order.reserve(2 * static_cast<size_t>(N) * V);
      for (int32_t C = 0; C < V; ++C)
        for (int32_t Mb = 0; Mb < N; ++Mb)
          Order.push_back(ComputeOp{false, Line[C * S + Dev], Mb});
      for (int32_t C = V - 1; C >= 0; --C)
        for (int32_t Mb = 0; Mb < N; ++Mb)
          Order.push_back(ComputeOp{true, Line[C * S + Dev], Mb});
    }
    materializeSchedule(P, Orders);
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleLayeredPass() {
  return std::make_unique<ScheduleLayeredPass>();
}

} // namespace pfc
