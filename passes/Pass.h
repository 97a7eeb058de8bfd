//===- Pass.h - the pass interface -----------------------------------------===//
//
// A pass transforms or analyses a Program. run() returns an error (a user
// error: the plan or its options cannot be handled) or whether it changed the
// task graph. Passes do no I/O and print nothing; dumping lives in the pass
// manager.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_PASS_H
#define PFC_PASSES_PASS_H

#include "ir/Program.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>

namespace pfc {

class Pass {
public:
  virtual ~Pass() = default;
  /// Kebab-case name used by --passes= and the registry.
  virtual llvm::StringRef name() const = 0;
  virtual llvm::Expected<bool> run(Program &P) = 0;
};

using PassFactory = std::unique_ptr<Pass> (*)();

#define PFC_PASS(NAME, FACTORY, SUMMARY) std::unique_ptr<Pass> FACTORY();
#include "PassRegistry.def"

struct PassInfo {
  llvm::StringRef Name;
  PassFactory Create;
  llvm::StringRef Summary;
};

/// All registered passes, in registry order.
llvm::ArrayRef<PassInfo> allPasses();
/// Looks a pass up by name; nullptr if unknown.
const PassInfo *findPass(llvm::StringRef Name);

} // namespace pfc

#endif
