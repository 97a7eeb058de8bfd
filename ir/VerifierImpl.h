//===- VerifierImpl.h - shared state of the verifier's checks --------------===//
//
// The verifier is split by topic (Verifier.cpp: structure; VerifyPipeline.cpp:
// coverage and data dependencies; VerifyGraph.cpp: send/recv matching and
// deadlock; VerifyTiming.cpp: timing and memory). They share one Checker:
// the program, what the structure check established (the pipelines, the
// predecessor lists, compact per-task attributes) and the one reporting function. Every
// check after checkStructure may assume the structural invariants hold, so
// ids can be used as indices without further tests.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_IR_VERIFIERIMPL_H
#define PFC_IR_VERIFIERIMPL_H

#include "Verifier.h"

#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <vector>

namespace pfc::verifier {

/// The invariants, in the order they are checked; their names appear in
/// messages as "pfc: error: verify: <name>: ...".
enum class Invariant {
  Structure,
  SendRecv,
  Deadlock,
  Coverage,
  Dependency,
  Timing,
  Memory,
};

class Checker {
public:
  Checker(const Program &P, const VerifyOptions &Opts, std::vector<std::string> *Warnings)
      : P(P), Opts(Opts), Warnings(Warnings) {}

  /// The one reporting function. An error returns the UserError (exit code
  /// ExitVerifyFailed); a warning is appended to Warnings and returns success.
  llvm::Error report(Invariant I, std::string Details, bool IsWarning = false);

  /// "task 12 (F stage 1 micro-batch 3 on device 1)".
  std::string describe(TaskId T) const;
  /// Whether there is a dependency edge From -> To (binary search).
  bool hasEdge(TaskId From, TaskId To) const;

  llvm::Error checkStructure();    // Verifier.cpp
  llvm::Error checkSendRecv();     // VerifyGraph.cpp
  llvm::Error checkDeadlock();     // VerifyGraph.cpp
  llvm::Error checkCoverage();     // VerifyPipeline.cpp (fills Slots)
  llvm::Error checkDependencies(); // VerifyPipeline.cpp
  llvm::Error checkTiming();       // VerifyTiming.cpp
  llvm::Error checkMemory();       // VerifyTiming.cpp

  const Program &P;
  const VerifyOptions &Opts;
  std::vector<std::string> *Warnings;

  // Established by checkStructure. Compact copies of what the checks look
  // up at random (a Task is 64 bytes; these stay in cache on big plans).
  enum : uint8_t { CycleTask = 1, SendTask = 2, RecvTask = 4 };
  /// CycleTask | SendTask | RecvTask bits of every task.
  std::vector<uint8_t> Class;
  /// Device of every task.
  std::vector<int32_t> DeviceOf;
  bool isCycle(TaskId T) const { return Class[T] & CycleTask; }
  /// Lines[pipeline][position] = stage id.
  std::vector<std::vector<int32_t>> Lines;
  /// Sorted predecessors of every task.
  Adjacency Preds;
  /// Whether any send or receive exists (insert-comm has run).
  bool HasComm = false;

  // Established by checkCoverage.
  /// Micro-batches per pipeline replica (options.microbatches).
  int32_t NumMicrobatches = 0;
  /// Forward (Backward = 1) task of (stage, micro-batch), or NoTask.
  std::vector<TaskId> Slots;
  TaskId slot(int32_t Stage, int32_t Mb, bool Backward) const {
    return Slots[(static_cast<size_t>(Stage) * NumMicrobatches + Mb) * 2 + Backward];
  }
};

} // namespace pfc::verifier

#endif
