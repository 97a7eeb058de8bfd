//===- ScheduleGPipe.cpp - GPipe: all forwards, then all backwards ---------===//
//
// Every device runs the forward of all N micro-batches, then their backward
// in the same order. Bubble fraction (S-1)/(N+S-1) with equal stage costs;
// every device holds N micro-batches of activations at the peak.
//
//===----------------------------------------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

namespace pfc {
namespace {

class ScheduleGPipePass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-gpipe"; }

  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = checkScheduleInputs(P, "gpipe", /*AllowVirtual=*/false))
      return E;
    const int32_t N = P.Options.microbatches();
    DeviceOrders Orders(P.numDevices());
    for (int32_t S = 0; S < P.numStages(); ++S) {
      auto &Order = Orders[P.Stages[S].Device];
      for (int32_t Mb = 0; Mb < N; ++Mb)
        Order.push_back({false, S, Mb});
      for (int32_t Mb = 0; Mb < N; ++Mb)
        Order.push_back({true, S, Mb});
    }
    materializeSchedule(P, Orders);
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleGPipePass() { return std::make_unique<ScheduleGPipePass>(); }

} // namespace pfc
