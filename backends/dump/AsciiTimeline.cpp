//===- AsciiTimeline.cpp - one character per time quantum ------------------===//
//
// In the manner of llvm-mca's timeline view: a row per device and stream in
// use, --width columns for the whole timeline (the k-step cycle when K-FAC
// runs over several steps), and one character per column naming the task
// that covers most of it. Forwards print the micro-batch as a lowercase
// letter (a = micro-batch 0), backwards as the uppercase letter, so that a
// GPipe step reads "aabbcc......CCBBAA". A task shorter than a column still
// gets a column when nothing longer claims it, so no task vanishes; idle time
// shorter than a column does. Idle percentages are exact, not counted in
// columns.
//
//===----------------------------------------------------------------------===//
#include "DumpUtil.h"
#include "Dumps.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace pfc {
namespace {

constexpr int LabelWidth = 16;

char cellChar(const Task &T) {
  if (T.Kind == proto::FORWARD || T.Kind == proto::BACKWARD) {
    if (T.Microbatch < 0)
      return T.Kind == proto::FORWARD ? 'f' : 'b';
    char Base = T.Kind == proto::FORWARD ? 'a' : 'A';
    return static_cast<char>(Base + T.Microbatch % 26);
  }
  return kindStyle(T.Kind).Ascii;
}

/// Decimals that keep tick labels \p Tick apart.
int decimalsFor(double Tick) { return Tick >= 10 ? 0 : Tick >= 1 ? 1 : Tick >= 0.1 ? 2 : 3; }

/// The row of one device stream: the task that covers most of each column.
std::string drawRow(const Program &P, std::span<const Occurrence> Occs, int Width, double Quantum) {
  std::string Row(Width, '.');
  std::vector<double> Best(Width, -1);
  for (const Occurrence &O : Occs) {
    const Task &T = P.Tasks[O.Id];
    char C = cellChar(T);
    if (O.End <= O.Start) {
      int Col = std::clamp(static_cast<int>(O.Start / Quantum), 0, Width - 1);
      if (Best[Col] < 0) {
        Best[Col] = 0;
        Row[Col] = C;
      }
      continue;
    }
    int First = std::clamp(static_cast<int>(std::floor(O.Start / Quantum)), 0, Width - 1);
    int Last = std::clamp(static_cast<int>(std::ceil(O.End / Quantum)), First + 1, Width);
    for (int Col = First; Col < Last; ++Col) {
      double Overlap = std::min(O.End, (Col + 1) * Quantum) - std::max(O.Start, Col * Quantum);
      if (Overlap <= 1e-9 * Quantum || Overlap <= Best[Col])
        continue;
      Best[Col] = Overlap;
      Row[Col] = C;
    }
  }
  return Row;
}

void printRuler(const Program &P, int Width, double Quantum, llvm::raw_ostream &OS) {
  const int32_t K = cycleSteps(P);
  auto StepCol = [&](int32_t T) {
    return static_cast<int>(std::lround(T * P.Time.StepTimeMs / Quantum));
  };
  if (K > 1) {
    std::string Steps(Width + 1, ' ');
    for (int32_t T = 0; T < K; ++T) {
      std::string L = fmt::format("step {}", T);
      int Col = StepCol(T);
      if (Col + static_cast<int>(L.size()) <= Width + 1)
        Steps.replace(Col, L.size(), L);
    }
    OS << fmt::format("{:<{}}{}\n", "", LabelWidth,
                      Steps.substr(0, Steps.find_last_not_of(' ') + 1));
  }
  const int Decimals = decimalsFor(10 * Quantum);
  std::string Labels(Width + 16, ' ');
  int Free = 0;
  for (int Col = 0; Col <= Width; Col = Col + 10 > Width && Col < Width ? Width : Col + 10) {
    std::string L = fmt::format("{:.{}f}", Col * Quantum, Decimals);
    if (Col < Free)
      continue;
    Labels.replace(Col, L.size(), L);
    Free = Col + static_cast<int>(L.size()) + 1;
  }
  Labels.erase(Labels.find_last_not_of(' ') + 1);
  OS << fmt::format("{:<{}}{}\n", "ms", LabelWidth, Labels);
  std::string Ruler(Width + 1, '-');
  for (int Col = 0; Col <= Width; Col += 10)
    Ruler[Col] = '+';
  Ruler[Width] = '+';
  for (int32_t T = 0; K > 1 && T <= K; ++T)
    if (int Col = StepCol(T); Col <= Width)
      Ruler[Col] = '|';
  OS << fmt::format("{:<{}}{}\n", "", LabelWidth, Ruler);
}

void printLegend(const Program &P, llvm::raw_ostream &OS) {
  std::set<int> Kinds;
  int32_t MaxMb = -1;
  for (const Task &T : P.Tasks) {
    Kinds.insert(T.Kind);
    if (T.Kind == proto::FORWARD || T.Kind == proto::BACKWARD)
      MaxMb = std::max(MaxMb, T.Microbatch);
  }
  std::vector<std::string> Items;
  auto Range = [&](char Base) {
    int32_t Last = std::min(MaxMb, 25);
    return Last <= 0 ? std::string(1, Base) : fmt::format("{}-{}", Base, char(Base + Last));
  };
  std::string Mbs = MaxMb <= 0 ? "0" : fmt::format("0-{}", std::min(MaxMb, 25));
  std::string Wrap = MaxMb > 25 ? " (mod 26)" : "";
  if (Kinds.count(proto::FORWARD))
    Items.push_back(fmt::format("{} forward of micro-batch {}{}", Range('a'), Mbs, Wrap));
  if (Kinds.count(proto::BACKWARD))
    Items.push_back(fmt::format("{} backward", Range('A')));
  bool Act = Kinds.count(proto::SEND_ACTIVATION) || Kinds.count(proto::RECV_ACTIVATION);
  bool Grad = Kinds.count(proto::SEND_GRADIENT) || Kinds.count(proto::RECV_GRADIENT);
  if (Act)
    Items.push_back("> activation send/recv");
  if (Grad)
    Items.push_back("< gradient send/recv");
  for (TaskKind K : styledKinds()) {
    if (K <= proto::RECV_GRADIENT || !Kinds.count(K))
      continue;
    Items.push_back(fmt::format("{} {}", kindStyle(K).Ascii, kindStyle(K).Legend));
  }
  Items.push_back(". idle");
  std::string Line = "legend:";
  for (size_t I = 0; I < Items.size(); ++I) {
    std::string Item = " " + Items[I] + (I + 1 < Items.size() ? "," : "");
    if (Line.size() + Item.size() > 100) {
      OS << Line << "\n";
      Line = "       ";
    }
    Line += Item;
  }
  OS << Line << "\n";
}

} // namespace

void printAsciiTimeline(const Program &P, const TimelineOptions &Opts, llvm::raw_ostream &OS) {
  OS << "timeline: " << planTitle(P) << "\n";
  if (!P.Time.Simulated) {
    OS << "timeline: " << notSimulatedMessage() << "\n";
    return;
  }
  const int Width = std::max(1, Opts.Width);
  const int32_t K = cycleSteps(P);
  const double Span = timelineSpanMs(P);
  if (!(Span > 0)) {
    OS << "timeline: the step takes 0 ms; nothing to draw\n";
    return;
  }
  const double Quantum = Span / Width;
  std::string Cycle = K > 1 ? fmt::format(", cycle of {} steps ({:.3f} ms)", K, Span) : "";
  OS << fmt::format("step {:.3f} ms{}, bubble {:.2f}%, {} columns of {:.3f} ms\n",
                    P.Time.StepTimeMs, Cycle, 100 * P.Time.BubbleFraction, Width, Quantum);
  printRuler(P, Width, Quantum, OS);

  std::vector<Occurrence> Occs = occurrences(P);
  auto It = Occs.begin();
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    for (int S = 0; S < NumStreams; ++S) {
      auto Stream = static_cast<StreamKind>(S);
      auto End = std::find_if(It, Occs.end(), [&](const Occurrence &O) {
        const Task &T = P.Tasks[O.Id];
        return T.Device != D || T.Stream != Stream;
      });
      std::span<const Occurrence> Row(It, End);
      It = End;
      if (Stream != proto::COMPUTE && !streamInUse(P, D, Stream))
        continue;
      std::string Label =
          fmt::format("{:<4}{}", S == 0 ? fmt::format("d{}", D) : "", streamName(Stream));
      OS << fmt::format("{:<{}}|{}|", Label, LabelWidth, drawRow(P, Row, Width, Quantum));
      if (Stream == proto::COMPUTE) {
        double Busy = 0;
        for (const Occurrence &O : Row)
          Busy += O.End - O.Start;
        double Idle = Span > 0 ? 100 * std::max(0.0, 1 - Busy / Span) : 0;
        OS << fmt::format(" idle {:.2f}%", Idle);
      }
      OS << "\n";
    }
  }
  printLegend(P, OS);
}

} // namespace pfc
