//===- GapTimeline.cpp - idle intervals of one stream over a cycle ---------===//
#include "GapTimeline.h"

#include <algorithm>
#include <cassert>

namespace pfc {

namespace {
/// Slack for floating-point sums of durations (ms).
constexpr double Eps = 1e-9;
} // namespace

GapTimeline::GapTimeline(std::vector<std::pair<double, double>> Busy, double StepMs,
                         int Steps, double MinUseful)
    : MinUseful(std::max(Eps, MinUseful - Eps)) {
  std::sort(Busy.begin(), Busy.end());
  std::vector<Gap> Step;
  double Cursor = 0;
  for (auto [S, E] : Busy) {
    if (S > Cursor + Eps)
      Step.push_back({Cursor, S});
    Cursor = std::max(Cursor, E);
  }
  if (StepMs > Cursor + Eps)
    Step.push_back({Cursor, StepMs});
  for (const Gap &G : Step)
    IdlePerStep += G.End - G.Start;
  std::erase_if(Step, [&](const Gap &G) { return G.End - G.Start < this->MinUseful; });
  Gaps.reserve(Step.size() * Steps);
  for (int T = 0; T < Steps; ++T)
    for (const Gap &G : Step)
      Gaps.push_back({G.Start + T * StepMs, G.End + T * StepMs});
}

GapTimeline::Fit GapTimeline::earliestFit(double Ready, double Duration,
                                          double Deadline) const {
  auto It = std::upper_bound(Gaps.begin(), Gaps.end(), Ready,
                             [](double R, const Gap &G) { return R < G.End; });
  for (; It != Gaps.end(); ++It) {
    double Start = std::max(It->Start, Ready);
    if (Start + Duration > Deadline + Eps)
      return {};
    if (Start + Duration <= It->End + Eps)
      return {Start, static_cast<size_t>(It - Gaps.begin())};
  }
  return {};
}

void GapTimeline::reserve(const Fit &F, double Duration) {
  assert(F.ok() && F.Gap < Gaps.size() && "reserving outside a gap");
  auto It = Gaps.begin() + static_cast<std::ptrdiff_t>(F.Gap);
  assert(It->Start <= F.Start + Eps && F.Start + Duration <= It->End + Eps);
  const double End = F.Start + Duration;
  Gap Before{It->Start, F.Start}, After{End, It->End};
  bool KeepBefore = Before.End - Before.Start >= MinUseful;
  bool KeepAfter = After.End - After.Start >= MinUseful;
  if (KeepBefore && KeepAfter) {
    *It = Before;
    Gaps.insert(It + 1, After);
  } else if (KeepBefore) {
    *It = Before;
  } else if (KeepAfter) {
    *It = After;
  } else {
    Gaps.erase(It);
  }
}

} // namespace pfc
