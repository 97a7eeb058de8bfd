//===- Verify.cpp - the verify pass ----------------------------------------===//
//
// Runs the verifier (ir/Verifier.h) as a pass: a violated invariant fails the
// pipeline with exit code ExitVerifyFailed; warnings (memory over capacity)
// go to P.Warnings for the driver to print, each once however often the pass
// runs.
//
//===----------------------------------------------------------------------===//
#include "Pass.h"

#include "ir/Verifier.h"

#include "llvm/ADT/STLExtras.h"

namespace pfc {
namespace {

class VerifyPass : public Pass {
public:
  llvm::StringRef name() const override { return "verify"; }
  llvm::Expected<bool> run(Program &P) override {
    std::vector<std::string> Warnings;
    if (llvm::Error E = verifyProgram(P, VerifyOptions{}, &Warnings))
      return E;
    for (std::string &W : Warnings)
      if (!llvm::is_contained(P.Warnings, W))
        P.Warnings.push_back(std::move(W));
    return false;
  }
};

} // namespace

std::unique_ptr<Pass> createVerifyPass() { return std::make_unique<VerifyPass>(); }

} // namespace pfc
