//===- Driver.h - the pfc and pfc-dump command lines -----------------------===//
#ifndef PFC_COMPILER_DRIVER_H
#define PFC_COMPILER_DRIVER_H

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

namespace pfc {

/// `pfc analyze` (compiler/Analyze.cpp).
extern llvm::cl::SubCommand AnalyzeCmd;
extern llvm::cl::OptionCategory AnalyzeCategory;
llvm::Error runAnalyze();

/// `pfc compile|opt ...`; returns the process exit code (see Diagnostics.h).
int pfcMain(int Argc, char **Argv);
/// `pfc-dump [--view ...] PLAN`.
int pfcDumpMain(int Argc, char **Argv);

} // namespace pfc

#endif
