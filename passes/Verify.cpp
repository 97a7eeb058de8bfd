//===- Verify.cpp - the verify pass ----------------------------------------===//
#include "Pass.h"

#include "ir/Verifier.h"

namespace pfc {
namespace {

class VerifyPass : public Pass {
public:
  llvm::StringRef name() const override { return "verify"; }
  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = verifyProgram(P))
      return std::move(E);
    return false;
  }
};

} // namespace

std::unique_ptr<Pass> createVerifyPass() { return std::make_unique<VerifyPass>(); }

} // namespace pfc
