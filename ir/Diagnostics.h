//===- Diagnostics.h - user errors and exit codes --------------------------===//
//
// User-facing failures travel as llvm::Error carrying a UserError payload:
// a message already formatted as "file:line:col: error: ..." (or naming the
// field) and the exit code the driver should return. Internal invariants use
// assert/llvm_unreachable instead.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_IR_DIAGNOSTICS_H
#define PFC_IR_DIAGNOSTICS_H

#include "llvm/Support/Error.h"

#include <fmt/format.h>
#include <string>

namespace pfc {

/// Exit codes shared by all pfc tools.
enum ExitCode : int {
  ExitOk = 0,
  ExitInternal = 1,   ///< a bug in pfc
  ExitUserError = 2,  ///< bad input, flag or file
  ExitNoDevice = 3,   ///< a requested device backend is unavailable
  ExitVerifyFailed = 4, ///< the plan breaks an invariant (see Verifier.h)
};

class UserError : public llvm::ErrorInfo<UserError> {
public:
  static char ID;
  UserError(std::string Msg, int Code = ExitUserError) : Msg(std::move(Msg)), Code(Code) {}
  void log(llvm::raw_ostream &OS) const override;
  std::error_code convertToErrorCode() const override { return llvm::inconvertibleErrorCode(); }
  const std::string &text() const { return Msg; }
  int exitCode() const { return Code; }

private:
  std::string Msg;
  int Code;
};

/// A user error with a fmt-formatted message.
template <typename... Args>
llvm::Error userError(fmt::format_string<Args...> F, Args &&...A) {
  return llvm::make_error<UserError>(fmt::format(F, std::forward<Args>(A)...));
}

/// Prints "<tool>: <message>" for every error in \p E to stderr and returns the
/// exit code to use (the largest carried by a UserError, else ExitInternal).
int reportError(llvm::StringRef Tool, llvm::Error E);

} // namespace pfc

#endif
