//===- RunReport.cpp - what pfc-run writes: losses, loss plot, profile -----===//
#include "RunReport.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
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

namespace {

double median(std::vector<double> V) {
  if (V.empty())
    return 0;
  std::sort(V.begin(), V.end());
  const size_t N = V.size();
  return N % 2 ? V[N / 2] : (V[N / 2 - 1] + V[N / 2]) / 2;
}

double msSince(std::chrono::steady_clock::time_point Start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - Start)
      .count();
}

} // namespace

template <typename T> LayerTimes timeLayers(Model<T> &M, const Batch &B, int Reps) {
  const int32_t Layers = M.numLayers();
  std::vector<std::vector<double>> F(static_cast<size_t>(Layers)), Bw(F.size());
  const T Scale = T(1) / static_cast<T>(B.Tokens.size());
  constexpr int32_t Mb = 1 << 20; // a micro-batch id no plan uses
  for (int Rep = 0; Rep < Reps; ++Rep) {
    std::vector<Tensor<T>> Out(F.size());
    for (int32_t L = 0; L < Layers; ++L) {
      const auto Start = std::chrono::steady_clock::now();
      Out[L] = M.forward(L, L + 1, Mb, B, L > 0 ? Out[L - 1] : Tensor<T>{});
      F[L].push_back(msSince(Start));
    }
    Tensor<T> D;
    for (int32_t L = Layers - 1; L >= 0; --L) {
      const auto Start = std::chrono::steady_clock::now();
      D = M.backward(L, L + 1, Mb, D, Scale);
      Bw[L].push_back(msSince(Start));
    }
    for (Linear<T> *Lin : M.linears())
      Lin->CurvatureInputs.clear(), Lin->CurvatureGrads.clear();
  }
  LayerTimes R;
  for (size_t L = 0; L < F.size(); ++L)
    R.Forward.push_back(median(F[L])), R.Backward.push_back(median(Bw[L]));
  return R;
}

template LayerTimes timeLayers(Model<float> &, const Batch &, int);
template LayerTimes timeLayers(Model<double> &, const Batch &, int);

int64_t blockParams(const ModelConfig &C) {
  const int64_t H = C.Hidden, F = C.Ffn;
  return 4 * (H * H + H) + 2 * H * F + F + H + 4 * H;
}

BlockTimes measureBlockTimes(const Program &P, std::span<const std::vector<double>> TaskMs,
                             const LayerTimes &Alone, std::span<const int64_t> StageParams,
                             int64_t BlockParams) {
  // Each task's mean over the measured steps it ran in. The mean, not the
  // median: task times are skewed to the right (interruptions), and the
  // median step time, a sum of many tasks, sits near the sum of their means.
  std::vector<double> Ms(P.Tasks.size(), -1);
  for (size_t I = 0; I < P.Tasks.size(); ++I) {
    double Sum = 0, Runs = 0;
    for (const auto &Step : TaskMs)
      if (I < Step.size() && Step[I] >= 0)
        Sum += Step[I], Runs += 1;
    if (Runs > 0)
      Ms[I] = Sum / Runs;
  }
  const int32_t Blocks = P.Model.num_layers();
  auto AloneSum = [&](const std::vector<double> &Per, const Stage &St) {
    double Sum = 0;
    for (int32_t L = St.LayerBegin; L < St.LayerEnd && L < static_cast<int32_t>(Per.size()); ++L)
      Sum += Per[L];
    return Sum;
  };
  // Under ZeRO each copy of a stage updates its shard, 1/n of the stage's
  // parameters for n copies (the stages holding the same layers).
  std::map<std::pair<int32_t, int32_t>, int32_t> Copies;
  for (const Stage &St : P.Stages)
    ++Copies[{St.LayerBegin, St.LayerEnd}];
  auto UpdatedParams = [&](int32_t S) {
    const Stage &St = P.Stages[S];
    const double Shards = P.Options.zero() > 0 ? Copies[{St.LayerBegin, St.LayerEnd}] : 1;
    return static_cast<double>(StageParams[S]) / Shards;
  };
  double F = 0, B = 0, FAlone = 0, BAlone = 0, Opt = 0, OptParams = 0;
  double Kron = 0, Inv = 0, Prec = 0, PrecBlocks = 0;
  std::set<std::tuple<int32_t, int32_t, int32_t>> KronUnits; // (stage, layer, mb)
  std::set<std::pair<int32_t, int32_t>> InvUnits;            // (stage, layer)
  for (size_t I = 0; I < P.Tasks.size(); ++I) {
    if (Ms[I] < 0)
      continue;
    const Task &Tk = P.Tasks[I];
    const Stage &St = P.Stages[Tk.Stage >= 0 ? Tk.Stage : 0];
    const double StageBlocks =
        std::max(0, std::min(St.LayerEnd, Blocks + 1) - std::max(St.LayerBegin, 1));
    switch (Tk.Kind) {
    case proto::FORWARD: F += Ms[I], FAlone += AloneSum(Alone.Forward, St); break;
    case proto::BACKWARD: B += Ms[I], BAlone += AloneSum(Alone.Backward, St); break;
    case proto::OPTIMIZER_STEP:
      if (Tk.Stage >= 0 && static_cast<size_t>(Tk.Stage) < StageParams.size())
        Opt += Ms[I], OptParams += UpdatedParams(Tk.Stage);
      break;
    // K-FAC work runs once per refresh cycle: a task's mean is its cost.
    case proto::CURVATURE_A: case proto::CURVATURE_B:
      if (Tk.Layer >= 0) {
        Kron += Ms[I];
        for (int32_t L = Tk.Layer; L < Tk.Layer + Tk.LayerCount; ++L)
          KronUnits.insert({Tk.Stage, L, Tk.Microbatch});
      }
      break;
    case proto::INVERT_A: case proto::INVERT_B:
      if (Tk.Layer >= 0)
        Inv += Ms[I], InvUnits.insert({Tk.Stage, Tk.Layer});
      break;
    case proto::PRECONDITION: Prec += Ms[I], PrecBlocks += StageBlocks; break;
    default: break;
    }
  }
  auto Per = [](double Sum, double N) { return N > 0 ? Sum / N : 0.0; };
  const double FScale = FAlone > 0 ? F / FAlone : 1, BScale = BAlone > 0 ? B / BAlone : 1;
  auto BlockMean = [&](const std::vector<double> &V) {
    double Sum = 0;
    for (int32_t L = 1; L <= Blocks && L < static_cast<int32_t>(V.size()); ++L)
      Sum += V[L];
    return Per(Sum, Blocks);
  };
  BlockTimes T;
  T.Forward = BlockMean(Alone.Forward) * FScale;
  T.Backward = BlockMean(Alone.Backward) * BScale;
  if (!Alone.Forward.empty()) {
    T.EmbedForward = Alone.Forward.front() * FScale;
    T.EmbedBackward = Alone.Backward.front() * BScale;
    T.HeadForward = Alone.Forward.back() * FScale;
    T.HeadBackward = Alone.Backward.back() * BScale;
  }
  T.Optimizer = Per(Opt, OptParams) * static_cast<double>(BlockParams);
  T.Kron = Per(Kron, double(KronUnits.size()));
  T.Inv = Per(Inv, double(InvUnits.size()));
  T.Prec = Per(Prec, PrecBlocks);
  return T;
}

std::string taskKindTable(const Program &P, std::span<const std::vector<double>> TaskMs) {
  struct Sums {
    double Runs = 0, Planned = 0, Measured = 0;
  };
  std::map<std::string, Sums> ByKind; // sorted by name: a stable order
  for (const auto &Step : TaskMs)
    for (size_t I = 0; I < Step.size() && I < P.Tasks.size(); ++I)
      if (Step[I] >= 0) {
        Sums &S = ByKind[std::string(taskKindName(P.Tasks[I].Kind))];
        S.Runs += 1, S.Planned += P.Tasks[I].DurationMs, S.Measured += Step[I];
      }
  const double Steps = std::max<double>(1, double(TaskMs.size()));
  std::string Out = fmt::format("{:<14} {:>9} {:>12} {:>12}\n", "task kind", "per step",
                                "planned ms", "measured ms");
  for (const auto &[Kind, S] : ByKind)
    Out += fmt::format("{:<14} {:>9.1f} {:>12.3f} {:>12.3f}\n", Kind, S.Runs / Steps,
                       S.Planned / Steps, S.Measured / Steps);
  return Out;
}

std::string profileCsv(const BlockTimes &T, const ModelConfig &C, int32_t BytesPerValue) {
  const double MiB = 1024.0 * 1024.0, V = BytesPerValue;
  const double H = C.Hidden, Ffn = C.Ffn, Tokens = double(C.MicroBatch) * C.Seq;
  const double Params = static_cast<double>(blockParams(C));
  // Saved for backward: LayerNorm/Linear inputs (about 8 H + 2 Ffn per token)
  // and the attention probabilities (heads · seq per token).
  const double Act = Tokens * (8 * H + 2 * Ffn + double(C.Heads) * C.Seq) * V;
  const double Err = Tokens * (6 * H + Ffn) * V; // output gradients kept for curvature B
  const double Kron = (4 * (H + 1) * (H + 1) + 4 * H * H + (Ffn + 1) * (Ffn + 1) + Ffn * Ffn +
                       (H + 1) * (H + 1) + H * H) * V;
  return fmt::format("bs,time_f,time_b,time_kron,time_inv,time_prec,mem_param,mem_act,"
                     "mem_peak_err,mem_save_err,mem_kron,time_f_embed,time_b_embed,time_f_head,"
                     "time_b_head,time_opt\n"
                     "{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},"
                     "{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n",
                     C.MicroBatch, T.Forward, T.Backward, T.Kron, T.Inv, T.Prec,
                     Params * V / MiB, Act / MiB, Act / MiB, Err / MiB, Kron / MiB,
                     T.EmbedForward, T.EmbedBackward, T.HeadForward, T.HeadBackward,
                     T.Optimizer);
}

} // namespace pfc::interp
