//===- PassManager.h - runs a pipeline of passes ---------------------------===//
//
// Parses a pipeline string ("partition,schedule-1f1b,simulate"), runs it, and
// owns everything around the passes: the verifier after every pass (on by
// default; a pass followed by the verify pass leaves the check to it, and
// its failure names that pass), IR printing after passes, and pass timing.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_PASSMANAGER_H
#define PFC_PASSES_PASSMANAGER_H

#include "Pass.h"

#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <string>
#include <vector>

namespace pfc {

struct PassManagerOptions {
  bool VerifyEach = true;
  bool PrintAfterAll = false;
  std::vector<std::string> PrintAfter; ///< pass names
  bool TimePasses = false;
  /// Where IR printing and pass timing go.
  llvm::raw_ostream *Out = &llvm::errs();
  /// How to print the IR (the plan's text form); set by the driver.
  std::function<void(const Program &, llvm::raw_ostream &)> PrintIR;
};

class PassManager {
public:
  explicit PassManager(PassManagerOptions Opts = {}) : Opts(std::move(Opts)) {}
  /// Appends the passes named in a comma-separated pipeline string.
  llvm::Error addPipeline(llvm::StringRef Pipeline);
  void addPass(std::unique_ptr<Pass> P) { Passes.push_back(std::move(P)); }
  llvm::Error run(Program &P);

private:
  PassManagerOptions Opts;
  std::vector<std::unique_ptr<Pass>> Passes;
};

/// The longest K-FAC refresh cycle bubble-fill accepts
/// (options.kfac.max_refresh_steps, --kfac-max-steps): inverses refreshed
/// that seldom are stale, and placing a cycle costs time and memory in
/// proportion to its steps.
inline constexpr int MaxRefreshSteps = 4096;

/// The pipeline `pfc compile` runs for the program's options.
std::string defaultPipeline(const proto::CompileOptions &Options);

} // namespace pfc

#endif
