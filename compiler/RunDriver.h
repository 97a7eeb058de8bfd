//===- RunDriver.h - the pfc-run command line ------------------------------===//
#ifndef PFC_COMPILER_RUNDRIVER_H
#define PFC_COMPILER_RUNDRIVER_H

namespace pfc {

/// `pfc-run PLAN [options]`; returns the process exit code (Diagnostics.h).
int pfcRunMain(int Argc, char **Argv);

} // namespace pfc

#endif
