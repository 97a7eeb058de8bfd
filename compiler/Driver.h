//===- Driver.h - the pfc and pfc-dump command lines -----------------------===//
#ifndef PFC_COMPILER_DRIVER_H
#define PFC_COMPILER_DRIVER_H

namespace pfc {

/// `pfc compile|opt ...`; returns the process exit code (see Diagnostics.h).
int pfcMain(int Argc, char **Argv);
/// `pfc-dump [--view ...] PLAN`.
int pfcDumpMain(int Argc, char **Argv);

} // namespace pfc

#endif
