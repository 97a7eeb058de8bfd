//===- ScheduleInterleaved.cpp - placeholder ----------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

namespace pfc {
namespace {

class ScheduleInterleavedPass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-interleaved"; }
  llvm::Expected<bool> run(Program &P) override {
    return userError("pfc: error: the interleaved schedule is not implemented yet");
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleInterleavedPass() { return std::make_unique<ScheduleInterleavedPass>(); }

} // namespace pfc
