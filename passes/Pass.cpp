//===- Pass.cpp - the pass registry ----------------------------------------===//
#include "Pass.h"

namespace pfc {

static const PassInfo Registry[] = {
#define PFC_PASS(NAME, FACTORY, SUMMARY) {NAME, &FACTORY, SUMMARY},
#include "PassRegistry.def"
};

llvm::ArrayRef<PassInfo> allPasses() { return Registry; }

const PassInfo *findPass(llvm::StringRef Name) {
  for (const PassInfo &I : Registry)
    if (I.Name == Name)
      return &I;
  return nullptr;
}

} // namespace pfc
