//===- DumpDriver.cpp - the pfc-dump command line --------------------------===//
//
// pfc-dump: plan file -> one view (summary, timelines, trace, memory) on
// standard output or in -o FILE, written only on success. Exit codes as in
// Diagnostics.h.
//
//===----------------------------------------------------------------------===//
#include "Driver.h"

#include "InputLoader.h"

#include "backends/PlanIO.h"
#include "backends/dump/Dumps.h"
#include "ir/Diagnostics.h"
#include "ir/PlanConversion.h"
#include "passes/Simulator.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace cl = llvm::cl;

namespace pfc {
namespace {

enum class View { Summary, Timeline, Svg, Trace, Memory, Network };

cl::OptionCategory Category("pfc-dump options");
cl::opt<std::string> PlanPath(cl::Positional, cl::desc("<plan>"), cl::Required,
                              cl::cat(Category));
cl::opt<View, false, ValuesParser<View>> ViewOpt(
    "view", cl::desc("what to show (default summary)"), cl::init(View::Summary),
    cl::values(clEnumValN(View::Summary, "summary", "headline figures and per-device table"),
               clEnumValN(View::Timeline, "timeline", "ASCII timeline, a row per device"),
               clEnumValN(View::Svg, "svg", "SVG timeline coloured by task kind"),
               clEnumValN(View::Trace, "trace", "Chrome/Perfetto trace JSON"),
               clEnumValN(View::Memory, "memory", "per-device memory report"),
               clEnumValN(View::Network, "network",
                          "bytes per device and step, bandwidth needed to hide them")),
    cl::cat(Category));
cl::opt<bool> JsonOpt("json", cl::desc("machine-readable JSON (summary and memory views)"),
                      cl::cat(Category));
cl::opt<int> WidthOpt("width",
                      cl::desc("characters per row of the ASCII timeline (10 to 100000, "
                               "default 100)"),
                      cl::init(100), cl::cat(Category));
cl::opt<std::string> OutOpt("o", cl::desc("write to FILE instead of standard output"),
                            cl::value_desc("FILE"), cl::init("-"), cl::cat(Category));

/// Step time of \p P simulated again (for the network view).
double reSimulate(const Program &P) {
  Program Q = P;
  if (llvm::Error E = simulateProgram(Q)) {
    llvm::consumeError(std::move(E));
    return INFINITY;
  }
  return Q.Time.StepTimeMs;
}

llvm::Error run() {
  if (WidthOpt < 10 || WidthOpt > 100000)
    return userError("pfc-dump: error: --width must be in [10, 100000] columns (got {})",
                     WidthOpt.getValue());
  if (JsonOpt && ViewOpt != View::Summary && ViewOpt != View::Memory &&
      ViewOpt != View::Network)
    return userError("pfc-dump: error: --json applies to --view summary, memory and network "
                     "only");
  if (llvm::Error E = checkOutputPath(OutOpt, "-o"))
    return E;
  llvm::Expected<Program> P = loadPlan(PlanPath, PlanChecks::Schedule);
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
  case View::Network:
    printNetworkReport(*P, reSimulate, JsonOpt, OS);
    break;
  }
  return writeFileAtomically(OutOpt, OS.str());
}

} // namespace

int pfcDumpMain(int Argc, char **Argv) {
  cl::HideUnrelatedOptions(Category);
  cl::SetVersionPrinter([](llvm::raw_ostream &OS) {
    OS << "pfc-dump (plan format version " << PlanVersion << ")\n";
  });
  // Messages name the tool, not the path it was started from.
  std::vector<char *> Args(Argv, Argv + Argc);
  char ToolName[] = "pfc-dump";
  Args[0] = ToolName;
  std::string Errors;
  llvm::raw_string_ostream ErrOS(Errors);
  if (!cl::ParseCommandLineOptions(
          Argc, Args.data(),
          "pfc-dump: show what a pfc plan does\n\n"
          "  pfc-dump [--view summary|timeline|svg|trace|memory] [--json] [-o FILE] PLAN\n\n"
          "PLAN is a plan written by pfc compile or pfc opt (.pb, .textproto or .json).\n"
          "Exit codes: 0 success; 2 user error (bad plan, flag or file: the message names the\n"
          "file and line:column or the field, and nothing is written); 1 internal error.\n",
          &ErrOS)) {
    llvm::errs() << formatCommandLineErrors("pfc-dump", ErrOS.str());
    return ExitUserError;
  }
  if (llvm::Error E = run())
    return reportError("pfc-dump", std::move(E));
  return ExitOk;
}

} // namespace pfc
