//===- AnalyzeSearch.h - pfc analyze --model: shortest time to train -------===//
//
// The configuration search behind `pfc analyze --model M --cluster C
// --tokens T` (AnalyzeSearch.cpp): for each schedule (1F1B, interleaved,
// layered), the pipeline size, virtual stages, data-parallel degree,
// tensor-parallel degree, micro-batch size and count, activation
// recomputation and ZeRO stage that train on T tokens soonest at the
// critical batch size of Kaplan et al. (2020), or that reach a target loss
// soonest at the batch size that trades steps against tokens best, within
// device memory.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_COMPILER_ANALYZESEARCH_H
#define PFC_COMPILER_ANALYZESEARCH_H

#include "llvm/Support/Error.h"

#include <string>

namespace pfc {

struct SearchRequest {
  std::string Model;   ///< preset or file
  std::string Cluster; ///< preset or file
  double Tokens = 0;   ///< training tokens (or give TargetLoss)
  /// Train to this loss (nats) instead of on Tokens: steps from Kaplan et
  /// al.'s L(N, S_min) and S = S_min (1 + B_crit / B), batch sizes searched.
  double TargetLoss = 0;
  /// Loss in nats for the critical batch size; <= 0: Kaplan's L(N).
  double Loss = 0;
  /// Largest stages x virtual stages x micro-batches simulated per candidate.
  int64_t MaxWork = 1 << 14;
  bool Json = false;
  /// Treat every candidate as fitting (peaks are still reported); then no
  /// recomputation is tried.
  bool IgnoreMemory = false;
  /// Largest tensor-parallel degree tried (powers of two dividing a node).
  int32_t MaxTensorParallel = 8;
};

/// Runs the search and prints the table (or JSON) on standard output.
llvm::Error runAnalyzeSearch(const SearchRequest &R);

} // namespace pfc

#endif
