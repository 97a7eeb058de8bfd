//===- DumpUtil.h - what the timeline dumps share --------------------------===//
//
// Task labels, one style per task kind (ASCII character, SVG colours, legend
// text) and the k-step cycle: per-step tasks repeat every step, K-FAC cycle
// tasks run once at their absolute time, so every timeline view draws the
// same list of occurrences. Keeping this in one place makes the ASCII, SVG
// and trace views agree on names, colours and placement.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_DUMP_DUMPUTIL_H
#define PFC_BACKENDS_DUMP_DUMPUTIL_H

#include "ir/Program.h"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pfc {

/// How every view draws one task kind.
struct KindStyle {
  std::string_view Key;    ///< CSS class / trace category ("fwd", "inv-a", ...)
  std::string_view Fill;   ///< SVG fill colour
  std::string_view Ink;    ///< SVG text colour on that fill
  std::string_view Legend; ///< words for the legend
  char Ascii;              ///< ASCII timeline character (F/B use micro-batch letters)
};
const KindStyle &kindStyle(TaskKind K);
/// Every task kind that has a style, in legend order.
std::span<const TaskKind> styledKinds();

/// "F s2 m5", "send-act s1 m3", "inv-A s0 L4 p1", "optimizer s3".
std::string taskLabel(const Program &P, TaskId T);
/// "bert-base on p100-cluster, gpipe, 4 stages x 4 micro-batches".
std::string planTitle(const Program &P);
/// What to do about a plan without timings.
std::string notSimulatedMessage();
/// "8 GPUs (tensor parallel, sequence parallel)": what one plan device is,
/// or "" when it is one GPU keeping every activation (nothing to say).
std::string tensorParallelText(const Program &P);

/// One drawing of a task on the timeline of the k-step cycle.
struct Occurrence {
  TaskId Id;
  int32_t Step; ///< step of the cycle it falls in
  double Start, End;
};
/// Steps the timeline covers (k >= 1).
int32_t cycleSteps(const Program &P);
/// The length of the whole timeline: k step times, or longer if a cycle task
/// ends after the last step.
double timelineSpanMs(const Program &P);
/// Per-step tasks once per step shifted by t * step time, cycle tasks once;
/// sorted by (device, stream, start, id). Requires a simulated plan.
std::vector<Occurrence> occurrences(const Program &P);
/// Whether device \p D has any task on stream \p S.
bool streamInUse(const Program &P, int32_t D, StreamKind S);

} // namespace pfc

#endif
