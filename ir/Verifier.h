//===- Verifier.h - plan invariants ----------------------------------------===//
//
// Checks a Program against every invariant a runtime relies on. The full list
// is at the top of Verifier.cpp. Violations are user errors with exit code
// ExitVerifyFailed, "pfc: error: verify: <invariant>: <details>", naming the
// lowest task id involved; memory over capacity is a warning (it says by how
// much) unless made an error. Partial programs (before scheduling, before
// insert-comm) verify too, and the cost is O(tasks + edges): it runs after
// every pass.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_IR_VERIFIER_H
#define PFC_IR_VERIFIER_H

#include "Program.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace pfc {

struct VerifyOptions {
  /// Treat memory above a device's capacity as an error, not a warning.
  bool MemoryIsError = false;
};

/// Returns the first violated invariant as an error. Warnings, if any, are
/// appended to \p Warnings when it is non-null.
llvm::Error verifyProgram(const Program &P, const VerifyOptions &Opts = {},
                          std::vector<std::string> *Warnings = nullptr);

} // namespace pfc

#endif
