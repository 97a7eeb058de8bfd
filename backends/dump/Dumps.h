//===- Dumps.h - views of a plan for people --------------------------------===//
//
// Every dump reads the IR (after fromPlan) and writes to a stream; none
// changes the program. Output is deterministic: tasks are named by id.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_DUMP_DUMPS_H
#define PFC_BACKENDS_DUMP_DUMPS_H

#include "ir/Program.h"

#include "llvm/Support/raw_ostream.h"

#include <functional>

namespace pfc {

/// Headline figures and a table per device.
void printSummary(const Program &P, llvm::raw_ostream &OS);
/// The same as one JSON object: schedule, stages, microbatches, step_time_ms,
/// bubble_fraction, devices[{busy_ms, idle_ms, peak_memory_bytes, ...}].
void printSummaryJson(const Program &P, llvm::raw_ostream &OS);

struct TimelineOptions {
  int Width = 100; ///< characters for the whole step
};
/// One row per device and stream in use, one character per time quantum, and
/// a legend (llvm-mca style).
void printAsciiTimeline(const Program &P, const TimelineOptions &Opts, llvm::raw_ostream &OS);
/// SVG: a lane per device, boxes coloured by task kind, idle time visible.
void printSvgTimeline(const Program &P, llvm::raw_ostream &OS);
/// Chrome trace event JSON (opens in Perfetto / chrome://tracing).
void printChromeTrace(const Program &P, llvm::raw_ostream &OS);
/// Per-device memory: static, activations, peak, capacity, headroom.
void printMemoryReport(const Program &P, llvm::raw_ostream &OS);
void printMemoryReportJson(const Program &P, llvm::raw_ostream &OS);

/// Step time of a program after re-simulation; the caller supplies the
/// simulator (backends do not depend on passes).
using StepTimeFn = std::function<double(const Program &)>;
/// Bytes sent and received per device and step (pipeline p2p and
/// data-parallel apart) and the link bandwidth below which communication
/// stops being hidden, found by re-simulating with scaled communication.
void printNetworkReport(const Program &P, const StepTimeFn &Step, bool Json,
                        llvm::raw_ostream &OS);

} // namespace pfc

#endif
