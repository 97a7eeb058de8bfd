//===- Diagnostics.cpp - user errors and exit codes ------------------------===//
#include "Diagnostics.h"

#include "llvm/Support/raw_ostream.h"

namespace pfc {

char UserError::ID = 0;

void UserError::log(llvm::raw_ostream &OS) const { OS << Msg; }

int reportError(llvm::StringRef Tool, llvm::Error E) {
  int Code = ExitOk;
  llvm::handleAllErrors(
      std::move(E),
      [&](const UserError &U) {
        llvm::errs() << U.text() << "\n";
        Code = std::max(Code, U.exitCode());
      },
      [&](const llvm::ErrorInfoBase &B) {
        llvm::errs() << Tool << ": internal error: " << B.message() << "\n";
        Code = std::max(Code, static_cast<int>(ExitInternal));
      });
  return Code == ExitOk ? ExitInternal : Code;
}

} // namespace pfc
