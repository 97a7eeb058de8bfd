//===- TestUtil.h - building programs for unit tests -----------------------===//
#ifndef PFC_TESTS_UNIT_TESTUTIL_H
#define PFC_TESTS_UNIT_TESTUTIL_H

#include "ir/Program.h"

#include "llvm/Support/Error.h"

#include <string>

namespace pfc::test {

/// A program ready for a schedule pass: S devices, S*V stages per pipeline
/// (two pipelines for Chimera) with equal costs (forward \p F ms, backward
/// \p B ms), free communication and no optimizer cost.
Program uniformProgram(proto::Schedule Schedule, int32_t S, int32_t N, int32_t V = 1,
                       double F = 1.0, double B = 2.0);

/// The error's message, or "" on success (consumes the error).
std::string errorText(llvm::Error E);

/// Runs a comma-separated pipeline of passes and returns its error message
/// ("" on success), for tests of user errors.
std::string pipelineError(Program &P, const std::string &Pipeline);

/// Runs a comma-separated pipeline of passes; fails the test on error.
void runPasses(Program &P, const std::string &Pipeline);

/// The compute-stream order of device \p D as "F0 F1 B0 ..." (micro-batch ids;
/// stage suffix ".s" when a device holds several stages).
std::string computeOrder(const Program &P, int32_t D);

} // namespace pfc::test

#endif
