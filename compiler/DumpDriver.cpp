//===- DumpDriver.cpp - the pfc-dump command line --------------------------===//
#include "Driver.h"

#include "backends/PlanIO.h"
#include "backends/dump/Dumps.h"
#include "ir/Diagnostics.h"
#include "ir/PlanConversion.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

namespace pfc {
namespace {

enum class View { Summary, Timeline, Svg, Trace, Memory };

cl::OptionCategory Category("pfc-dump options");
cl::opt<std::string> PlanPath(cl::Positional, cl::desc("<plan>"), cl::Required,
                              cl::cat(Category));
cl::opt<View> ViewOpt(
    "view", cl::desc("what to show"), cl::init(View::Summary),
    cl::values(clEnumValN(View::Summary, "summary", "headline figures and per-device table"),
               clEnumValN(View::Timeline, "timeline", "ASCII timeline, a row per device"),
               clEnumValN(View::Svg, "svg", "SVG timeline coloured by task kind"),
               clEnumValN(View::Trace, "trace", "Chrome/Perfetto trace JSON"),
               clEnumValN(View::Memory, "memory", "per-device memory report")),
    cl::cat(Category));
cl::opt<bool> JsonOpt("json", cl::desc("machine-readable JSON (summary and memory views)"),
                      cl::cat(Category));
cl::opt<int> WidthOpt("width", cl::desc("characters per row of the ASCII timeline"),
                      cl::init(100), cl::cat(Category));
cl::opt<std::string> OutOpt("o", cl::desc("write to FILE instead of standard output"),
                            cl::value_desc("FILE"), cl::init("-"), cl::cat(Category));

llvm::Error run() {
  if (WidthOpt < 10)
    return userError("pfc-dump: error: --width must be at least 10 (got {})", WidthOpt.getValue());
  if (JsonOpt && ViewOpt != View::Summary && ViewOpt != View::Memory)
    return userError("pfc-dump: error: --json applies to --view summary and memory only");
  llvm::Expected<proto::Plan> Plan = readPlan(PlanPath);
  if (!Plan)
    return Plan.takeError();
  llvm::Expected<Program> P = fromPlan(*Plan, PlanPath);
  if (!P)
    return P.takeError();
  std::string Text;
  llvm::raw_string_ostream OS(Text);
  switch (ViewOpt) {
  case View::Summary:
    JsonOpt ? printSummaryJson(*P, OS) : printSummary(*P, OS);
    break;
  case View::Timeline:
    printAsciiTimeline(*P, TimelineOptions{WidthOpt}, OS);
    break;
  case View::Svg:
    printSvgTimeline(*P, OS);
    break;
  case View::Trace:
    printChromeTrace(*P, OS);
    break;
  case View::Memory:
    JsonOpt ? printMemoryReportJson(*P, OS) : printMemoryReport(*P, OS);
    break;
  }
  return writeFileAtomically(OutOpt, OS.str());
}

} // namespace

int pfcDumpMain(int Argc, char **Argv) {
  cl::HideUnrelatedOptions(Category);
  std::string Errors;
  llvm::raw_string_ostream ErrOS(Errors);
  if (!cl::ParseCommandLineOptions(Argc, Argv,
                                   "pfc-dump: show what a pfc plan does\n\n"
                                   "  pfc-dump [--view summary|timeline|svg|trace|memory] "
                                   "[--json] PLAN\n",
                                   &ErrOS)) {
    llvm::errs() << ErrOS.str();
    return ExitUserError;
  }
  if (llvm::Error E = run())
    return reportError("pfc-dump", std::move(E));
  return ExitOk;
}

} // namespace pfc
