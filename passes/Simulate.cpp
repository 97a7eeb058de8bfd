//===- Simulate.cpp - the simulate pass ------------------------------------===//
#include "Pass.h"
#include "Simulator.h"

namespace pfc {
namespace {

class SimulatePass : public Pass {
public:
  llvm::StringRef name() const override { return "simulate"; }
  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = simulateProgram(P))
      return E;
    return false; // timings are results, not a change of the task graph
  }
};

} // namespace

std::unique_ptr<Pass> createSimulatePass() { return std::make_unique<SimulatePass>(); }

} // namespace pfc
