//===- SvgTimeline.cpp - the plan as a PipeFisher-style figure -------------===//
//
// A lane per device with thin sub-lanes for the communication streams in use,
// a box per task coloured by kind (DumpUtil's table) with the micro-batch
// inside forward and backward boxes when it fits, the lane background left
// showing through as idle time, step boundaries of the k-step cycle, a time
// axis in ms and a legend of the kinds present. Every box carries a <title>
// (a browser tooltip) and a class naming its kind, so tests can count boxes.
// Plain SVG 1.1 with no scripts or external references.
//
//===----------------------------------------------------------------------===//
#include "DumpUtil.h"
#include "Dumps.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

namespace pfc {
namespace {

constexpr double Width = 1200, Left = 110, Right = 20, PlotWidth = Width - Left - Right;
constexpr double ComputeHeight = 30, SubHeight = 12, SubGap = 2, DeviceGap = 12;
constexpr const char *Font = "font-family=\"Helvetica, Arial, sans-serif\"";

std::string escape(std::string_view S) {
  std::string Out;
  for (char C : S) {
    switch (C) {
    case '&':
      Out += "&amp;";
      break;
    case '<':
      Out += "&lt;";
      break;
    case '>':
      Out += "&gt;";
      break;
    case '"':
      Out += "&quot;";
      break;
    default:
      Out += C;
    }
  }
  return Out;
}

/// 1, 2 or 5 times a power of ten, giving about ten ticks over \p Span.
double niceTick(double Span) {
  if (!(Span > 0))
    return 1;
  double Raw = Span / 10, Mag = std::pow(10, std::floor(std::log10(Raw)));
  double Norm = Raw / Mag;
  return (Norm < 1.5 ? 1 : Norm < 3.5 ? 2 : Norm < 7.5 ? 5 : 10) * Mag;
}

struct Layout {
  std::vector<double> LaneY; ///< [Device * NumStreams + Stream], -1 if not drawn
  double Bottom = 0;
};

Layout layLanes(const Program &P, double Top) {
  Layout L;
  L.LaneY.assign(static_cast<size_t>(P.numDevices()) * NumStreams, -1);
  double Y = Top;
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    L.LaneY[D * NumStreams] = Y;
    Y += ComputeHeight;
    for (int S = 1; S < NumStreams; ++S)
      if (streamInUse(P, D, static_cast<StreamKind>(S))) {
        L.LaneY[D * NumStreams + S] = Y + SubGap;
        Y += SubGap + SubHeight;
      }
    Y += DeviceGap;
  }
  L.Bottom = Y - DeviceGap;
  return L;
}

void printLanes(const Program &P, const Layout &L, llvm::raw_ostream &OS) {
  OS << "<g class=\"lanes\">\n";
  for (int32_t D = 0; D < P.numDevices(); ++D)
    for (int S = 0; S < NumStreams; ++S) {
      double Y = L.LaneY[D * NumStreams + S];
      if (Y < 0)
        continue;
      double H = S == 0 ? ComputeHeight : SubHeight;
      OS << fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
                        "fill=\"#f3f3f3\" stroke=\"#d0d0d0\" stroke-width=\"0.5\"/>\n",
                        Left, Y, PlotWidth, H);
      std::string Name = S == 0 ? fmt::format("device {}", D)
                                : std::string(streamName(static_cast<StreamKind>(S)));
      OS << fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"end\" "
                        "dominant-baseline=\"central\" font-size=\"{}\" fill=\"{}\">{}</text>\n",
                        Left - 8, Y + H / 2, S == 0 ? 13 : 9, S == 0 ? "#000" : "#666",
                        escape(Name));
    }
  OS << "</g>\n";
}

void printBoxes(const Program &P, const Layout &L, double Scale, llvm::raw_ostream &OS) {
  OS << "<g class=\"tasks\" stroke=\"#ffffff\" stroke-width=\"0.5\">\n";
  for (const Occurrence &O : occurrences(P)) {
    const Task &T = P.Tasks[O.Id];
    double Y = L.LaneY[T.Device * NumStreams + T.Stream];
    double H = T.Stream == proto::COMPUTE ? ComputeHeight : SubHeight;
    // Short tasks (and zero-length receives) stay visible as thin unstroked ticks.
    double X = Left + O.Start * Scale, W = std::max(1.5, (O.End - O.Start) * Scale);
    const KindStyle &K = kindStyle(T.Kind);
    OS << fmt::format("<rect class=\"{}\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" "
                      "height=\"{:.2f}\" fill=\"{}\"{}><title>{} (task {}, step {}): "
                      "{:.3f}-{:.3f} ms</title></rect>\n",
                      K.Key, X, Y, W, H, K.Fill, W < 4 ? " stroke=\"none\"" : "",
                      escape(taskLabel(P, O.Id)), O.Id, O.Step, O.Start, O.End);
    bool Numbered = T.Kind == proto::FORWARD || T.Kind == proto::BACKWARD;
    std::string Mb = fmt::format("{}", T.Microbatch);
    if (Numbered && T.Microbatch >= 0 && W >= 7.0 * Mb.size() + 3)
      OS << fmt::format("<text class=\"mb\" x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\" "
                        "dominant-baseline=\"central\" font-size=\"11\" fill=\"{}\" "
                        "stroke=\"none\">{}</text>\n",
                        X + W / 2, Y + H / 2, K.Ink, Mb);
  }
  OS << "</g>\n";
}

void printSteps(const Program &P, double Top, double Bottom, double Scale, llvm::raw_ostream &OS) {
  const int32_t K = cycleSteps(P);
  if (K <= 1)
    return;
  OS << "<g class=\"steps\">\n";
  for (int32_t T = 0; T <= K; ++T) {
    double X = Left + T * P.Time.StepTimeMs * Scale;
    OS << fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" "
                      "stroke=\"#333\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>\n",
                      X, Top - 14, Bottom + 4);
    if (T < K)
      OS << fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"11\" "
                        "fill=\"#333\">step {}</text>\n",
                        X + 4, Top - 4, T);
  }
  OS << "</g>\n";
}

void printAxis(double Span, double Y, double Scale, llvm::raw_ostream &OS) {
  double Tick = niceTick(Span);
  int Decimals = Tick >= 1 ? 0 : static_cast<int>(-std::floor(std::log10(Tick)));
  OS << "<g class=\"axis\" font-size=\"10\" fill=\"#333\">\n";
  OS << fmt::format("<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" "
                    "stroke=\"#333\"/>\n",
                    Left, Y, Left + PlotWidth, Y);
  for (int I = 0; I * Tick <= Span * (1 + 1e-9); ++I) {
    double X = Left + I * Tick * Scale;
    OS << fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" "
                      "stroke=\"#333\"/>\n",
                      X, Y, Y + 4);
    OS << fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{:.{}f}</text>\n", X,
                      Y + 15, I * Tick, Decimals);
  }
  OS << fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"end\">time (ms)</text>\n",
                    Left - 8, Y + 15);
  OS << "</g>\n";
}

/// Returns the height used.
double printLegend(const Program &P, double Y, llvm::raw_ostream &OS) {
  std::set<int> Present;
  for (const Task &T : P.Tasks)
    Present.insert(T.Kind);
  OS << "<g class=\"legend\" font-size=\"11\">\n";
  double X = Left, ItemWidth = 150;
  for (TaskKind K : styledKinds()) {
    if (!Present.count(K))
      continue;
    if (X + ItemWidth > Width - Right) {
      X = Left;
      Y += 18;
    }
    const KindStyle &S = kindStyle(K);
    OS << fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"12\" height=\"12\" fill=\"{}\" "
                      "stroke=\"#999\" stroke-width=\"0.5\"/>\n",
                      X, Y, S.Fill);
    OS << fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\">{}</text>\n", X + 17, Y + 10,
                      escape(S.Legend));
    X += ItemWidth;
  }
  OS << "</g>\n";
  return Y + 18;
}

void printHeader(double Height, llvm::raw_ostream &OS) {
  OS << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  OS << fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                    "width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" {2}>\n",
                    Width, Height, Font);
  OS << fmt::format("<rect width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#ffffff\"/>\n", Width, Height);
}

} // namespace

void printSvgTimeline(const Program &P, llvm::raw_ostream &OS) {
  std::string Title = planTitle(P);
  if (!P.Time.Simulated) {
    printHeader(80, OS);
    OS << fmt::format("<text x=\"20\" y=\"30\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
                      escape(Title));
    OS << fmt::format("<text x=\"20\" y=\"56\" font-size=\"13\" fill=\"#b00\">{}</text>\n",
                      escape(notSimulatedMessage()));
    OS << "</svg>\n";
    return;
  }
  const int32_t K = cycleSteps(P);
  const double Span = timelineSpanMs(P);
  const double Scale = Span > 0 ? PlotWidth / Span : 1;
  const double Top = K > 1 ? 82 : 66;
  Layout L = layLanes(P, Top);
  double AxisY = L.Bottom + 8;
  // Legend rows: as many as the kinds present need, 7 to a row.
  std::set<int> Present;
  for (const Task &T : P.Tasks)
    Present.insert(T.Kind);
  double LegendY = AxisY + 34;
  double Height = LegendY + 18 * ((Present.size() + 6) / 7) + 12;
  printHeader(Height, OS);
  OS << fmt::format("<text x=\"{:.0f}\" y=\"26\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
                    Left, escape(Title));
  std::string Sub = fmt::format("step time {:.3f} ms, bubble {:.1f}%", P.Time.StepTimeMs,
                                100 * P.Time.BubbleFraction);
  if (K > 1)
    Sub += fmt::format(", K-FAC refresh cycle of {} steps ({:.3f} ms)", K, Span);
  OS << fmt::format("<text x=\"{:.0f}\" y=\"46\" font-size=\"12\" fill=\"#333\">{}</text>\n", Left,
                    escape(Sub));
  printLanes(P, L, OS);
  printBoxes(P, L, Scale, OS);
  printSteps(P, Top, L.Bottom, Scale, OS);
  printAxis(Span, AxisY, Scale, OS);
  printLegend(P, LegendY, OS);
  OS << "</svg>\n";
}

} // namespace pfc
