//===- Schedule1F1B.cpp - one-forward-one-backward -------------------------===//
//
// PipeDream-Flush / DAPPLE: device s runs min(S-s-1, N) warm-up forwards, then
// alternates one forward and one backward, then drains the remaining
// backwards. Same bubble as GPipe, (S-1)/(N+S-1) with equal stage costs, but
// stage s holds at most S-s micro-batches of activations instead of N.
//
//===----------------------------------------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

#include <algorithm>

namespace pfc {
namespace {

class Schedule1F1BPass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-1f1b"; }

  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = checkScheduleInputs(P, "1f1b", /*AllowVirtual=*/false))
      return E;
    const int32_t N = P.Options.microbatches();
    const int32_t S = P.numDevices();
    DeviceOrders Orders(S);
    for (int32_t StageId = 0; StageId < P.numStages(); ++StageId) {
      const Stage &St = P.Stages[StageId];
      auto &Order = Orders[St.Device];
      const int32_t Warmup = std::min(S - St.Position - 1, N);
      for (int32_t Mb = 0; Mb < Warmup; ++Mb)
        Order.push_back({false, StageId, Mb});
      for (int32_t I = 0; I + Warmup < N; ++I) {
        Order.push_back({false, StageId, Warmup + I});
        Order.push_back({true, StageId, I});
      }
      for (int32_t Mb = std::max(0, N - Warmup); Mb < N; ++Mb)
        Order.push_back({true, StageId, Mb});
    }
    materializeSchedule(P, Orders);
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createSchedule1F1BPass() { return std::make_unique<Schedule1F1BPass>(); }

} // namespace pfc
