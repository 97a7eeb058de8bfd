//===- ScheduleChimera.cpp - placeholder ----------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

namespace pfc {
namespace {

class ScheduleChimeraPass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-chimera"; }
  llvm::Expected<bool> run(Program &P) override {
    return userError("pfc: error: the chimera schedule is not implemented yet");
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleChimeraPass() { return std::make_unique<ScheduleChimeraPass>(); }

} // namespace pfc
