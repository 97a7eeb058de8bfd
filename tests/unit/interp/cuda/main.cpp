//===- main.cpp - pfc-cuda-tests: skips cleanly without a GPU --------------===//
//
// Exit code 77 (ctest's SKIP_RETURN_CODE for this test) with a clear line
// when no CUDA device is present, so machines without a GPU show the test
// as skipped instead of passed or failed.
//
//===----------------------------------------------------------------------===//
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "backends/interp/cuda/Lane.h"

#include <cstdio>

int main(int Argc, char **Argv) {
  std::string Why;
  if (pfc::interp::cuda::deviceCount(&Why) == 0) {
    std::printf("pfc-cuda-tests: SKIPPED: no CUDA device (%s)\n", Why.c_str());
    return 77;
  }
  std::printf("pfc-cuda-tests: on %s\n", pfc::interp::cuda::deviceName().c_str());
  doctest::Context Ctx(Argc, Argv);
  return Ctx.run();
}
