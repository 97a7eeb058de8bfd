//===- Placeholders.cpp - dumps not written yet ----------------------------===//
#include "Dumps.h"

namespace pfc {

void printAsciiTimeline(const Program &, const TimelineOptions &, llvm::raw_ostream &OS) {
  OS << "timeline: not implemented yet\n";
}
void printSvgTimeline(const Program &, llvm::raw_ostream &OS) { OS << "<svg/>\n"; }
void printChromeTrace(const Program &, llvm::raw_ostream &OS) { OS << "[]\n"; }
void printMemoryReport(const Program &, llvm::raw_ostream &OS) { OS << "memory: todo\n"; }
void printMemoryReportJson(const Program &, llvm::raw_ostream &OS) { OS << "{}\n"; }

} // namespace pfc
