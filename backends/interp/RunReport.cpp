//===- RunReport.cpp - what pfc-run writes: losses, loss plot, profile -----===//
#include "RunReport.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace pfc::interp {

std::string lossCsv(const LossCurve &Train, const LossCurve *Valid,
                    std::span<const double> TokensPerS, std::span<const double> StepMs) {
  std::map<int64_t, double> ValidAt;
  if (Valid)
    for (auto [Step, Loss] : Valid->Points)
      ValidAt[Step] = Loss;
  std::string Out = Valid ? "step,loss,tokens_per_s,step_ms,valid_loss\n"
                          : "step,loss,tokens_per_s,step_ms\n";
  for (size_t I = 0; I < Train.Points.size(); ++I) {
    auto [Step, Loss] = Train.Points[I];
    Out += fmt::format("{},{:.9g},{:.1f},{:.3f}", Step, Loss, TokensPerS[I], StepMs[I]);
    if (Valid) {
      auto It = ValidAt.find(Step);
      Out += It == ValidAt.end() ? "," : fmt::format(",{:.9g}", It->second);
    }
    Out += "\n";
  }
  return Out;
}

std::string lossSvg(std::span<const LossCurve> Curves, const std::string &Title) {
  constexpr double W = 640, H = 400, Left = 60, Right = 20, Top = 40, Bottom = 40;
  constexpr const char *Colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  double MaxStep = 1, Lo = HUGE_VAL, Hi = -HUGE_VAL;
  for (const LossCurve &C : Curves)
    for (auto [Step, Loss] : C.Points) {
      MaxStep = std::max(MaxStep, double(Step));
      Lo = std::min(Lo, Loss), Hi = std::max(Hi, Loss);
    }
  if (!(Hi > Lo))
    Lo = std::isfinite(Lo) ? Lo - 1 : 0, Hi = Lo + 2;
  auto X = [&](double S) { return Left + (W - Left - Right) * S / MaxStep; };
  auto Y = [&](double L) { return Top + (H - Top - Bottom) * (Hi - L) / (Hi - Lo); };
  std::string Out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"20\" font-size=\"14\">{}</text>\n",
      W, H, Left, Title);
  Out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n"
                     "<line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\" stroke=\"black\"/>\n",
                     Left, Top, H - Bottom, W - Right);
  for (int I = 0; I <= 4; ++I) {
    const double L = Lo + (Hi - Lo) * I / 4, S = MaxStep * I / 4;
    Out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3g}</text>\n",
                       Left - 4, Y(L) + 4, L);
    Out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.0f}</text>\n",
                       X(S), H - Bottom + 16, S);
  }
  Out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">step</text>\n",
                     (W + Left) / 2, H - 6);
  for (size_t C = 0; C < Curves.size(); ++C) {
    const char *Colour = Colours[C % std::size(Colours)];
    std::string Points;
    for (auto [Step, Loss] : Curves[C].Points)
      Points += fmt::format("{:.1f},{:.1f} ", X(double(Step)), Y(Loss));
    Out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" "
                       "points=\"{}\"/>\n",
                       Colour, Points);
    Out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n", W - Right - 150,
                       Top + 16 * double(C + 1), Colour, Curves[C].Name);
  }
  return Out + "</svg>\n";
}

BlockTimes measureBlockTimes(const Program &P, std::span<const std::vector<double>> TaskMs) {
  // Sum per kind over the measured steps, then divide by the block count the
  // work covers. A stage's forward/backward covers all its layers; the
  // embedding and head count as one layer each.
  double F = 0, B = 0, Kron = 0, Inv = 0, Prec = 0;
  double FLayers = 0, BLayers = 0, PrecBlocks = 0;
  std::set<std::tuple<int32_t, int32_t, int32_t>> KronUnits; // (stage, layer, mb)
  std::set<std::pair<int32_t, int32_t>> InvUnits;            // (stage, layer)
  const int32_t Blocks = P.Model.num_layers();
  for (const auto &Step : TaskMs)
    for (size_t I = 0; I < Step.size(); ++I) {
      const double Ms = Step[I];
      if (Ms < 0)
        continue;
      const Task &Tk = P.Tasks[I];
      const Stage &St = P.Stages[Tk.Stage >= 0 ? Tk.Stage : 0];
      const double Layers = St.LayerEnd - St.LayerBegin;
      const double StageBlocks =
          std::max(0, std::min(St.LayerEnd, Blocks + 1) - std::max(St.LayerBegin, 1));
      switch (Tk.Kind) {
      case proto::FORWARD: F += Ms, FLayers += Layers; break;
      case proto::BACKWARD: B += Ms, BLayers += Layers; break;
      case proto::CURVATURE_A: case proto::CURVATURE_B:
        if (Tk.Layer >= 0)
          Kron += Ms, KronUnits.insert({Tk.Stage, Tk.Layer, Tk.Microbatch});
        break;
      case proto::INVERT_A: case proto::INVERT_B:
        if (Tk.Layer >= 0)
          Inv += Ms, InvUnits.insert({Tk.Stage, Tk.Layer});
        break;
      case proto::PRECONDITION: Prec += Ms, PrecBlocks += StageBlocks; break;
      default: break;
      }
    }
  // Curvature and inversion run once per cycle: average over the units seen.
  const double Steps = std::max<double>(1, double(TaskMs.size()));
  auto Per = [](double Sum, double N) { return N > 0 ? Sum / N : 0.0; };
  BlockTimes T;
  T.Forward = Per(F, FLayers), T.Backward = Per(B, BLayers);
  T.Kron = Per(Kron, double(KronUnits.size()) * std::ceil(Steps / std::max(1, P.Time.CycleSteps)));
  T.Inv = Per(Inv, double(InvUnits.size()) * std::ceil(Steps / std::max(1, P.Time.CycleSteps)));
  T.Prec = Per(Prec, PrecBlocks);
  return T;
}

std::string profileCsv(const BlockTimes &T, const ModelConfig &C, int32_t BytesPerValue) {
  const double MiB = 1024.0 * 1024.0, V = BytesPerValue;
  const double H = C.Hidden, Ffn = C.Ffn, Tokens = double(C.MicroBatch) * C.Seq;
  const double Params = 4 * (H * H + H) + 2 * H * Ffn + Ffn + H + 4 * H;
  // Saved for backward: LayerNorm/Linear inputs (about 8 H + 2 Ffn per token)
  // and the attention probabilities (heads · seq per token).
  const double Act = Tokens * (8 * H + 2 * Ffn + double(C.Heads) * C.Seq) * V;
  const double Err = Tokens * (6 * H + Ffn) * V; // output gradients kept for curvature B
  const double Kron = (4 * (H + 1) * (H + 1) + 4 * H * H + (Ffn + 1) * (Ffn + 1) + Ffn * Ffn +
                       (H + 1) * (H + 1) + H * H) * V;
  return fmt::format("bs,time_f,time_b,time_kron,time_inv,time_prec,mem_param,mem_act,"
                     "mem_peak_err,mem_save_err,mem_kron\n"
                     "{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n",
                     C.MicroBatch, T.Forward, T.Backward, T.Kron, T.Inv, T.Prec,
                     Params * V / MiB, Act / MiB, Act / MiB, Err / MiB, Kron / MiB);
}

} // namespace pfc::interp
