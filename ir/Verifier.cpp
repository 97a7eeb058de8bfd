//===- Verifier.cpp - plan invariants --------------------------------------===//
//
// Invariants (placeholder: being filled in).
//
//===----------------------------------------------------------------------===//
#include "Verifier.h"

namespace pfc {

llvm::Error verifyProgram(const Program &P, const VerifyOptions &Opts,
                          std::vector<std::string> *Warnings) {
  (void)P;
  (void)Opts;
  (void)Warnings;
  return llvm::Error::success();
}

} // namespace pfc
