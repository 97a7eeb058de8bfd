//===- GapTimelineTest.cpp - the gap index against a brute-force scan -----===//
//
// GapTimeline keeps its gaps in blocks under a max-tree. Here it is checked
// against the plain model it replaces -- one sorted vector of gaps, scanned
// from the ready time -- on random busy patterns and random sequences of
// queries and reservations, enough of them to split blocks many times. Both
// must give the same start for every query, bit for bit, and the same gaps.
// Also the property the curvature search relies on: the first fit from any
// ready time between r and firstFit(r) is firstFit(r).
//
//===----------------------------------------------------------------------===//
#include "passes/GapTimeline.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace pfc;

namespace {

/// The reference: gaps in one sorted vector, a linear scan per query.
class FlatGaps {
public:
  FlatGaps(std::vector<std::pair<double, double>> Busy, double StepMs, int Steps, double MinUseful)
      : MinUseful(std::max(Eps, MinUseful - Eps)) {
    std::sort(Busy.begin(), Busy.end());
    std::vector<std::pair<double, double>> Step;
    double Cursor = 0;
    for (auto [S, E] : Busy) {
      if (S > Cursor + Eps)
        Step.push_back({Cursor, S});
      Cursor = std::max(Cursor, E);
    }
    if (StepMs > Cursor + Eps)
      Step.push_back({Cursor, StepMs});
    std::erase_if(Step, [&](auto G) { return G.second - G.first < this->MinUseful; });
    for (int T = 0; T < Steps; ++T)
      for (auto [S, E] : Step)
        Gaps.push_back({S + T * StepMs, E + T * StepMs});
  }

  /// Start and gap index of the earliest fit, or (-1, 0).
  std::pair<double, size_t> earliestFit(double Ready, double Duration, double Deadline) const {
    auto It = std::upper_bound(Gaps.begin(), Gaps.end(), Ready,
                               [](double R, const auto &G) { return R < G.second; });
    for (; It != Gaps.end(); ++It) {
      double Start = std::max(It->first, Ready);
      if (Start + Duration > Deadline + Eps)
        return {-1, 0};
      if (Start + Duration <= It->second + Eps)
        return {Start, static_cast<size_t>(It - Gaps.begin())};
    }
    return {-1, 0};
  }

  void reserve(std::pair<double, size_t> F, double Duration) {
    auto It = Gaps.begin() + static_cast<std::ptrdiff_t>(F.second);
    std::pair<double, double> Before{It->first, F.first}, After{F.first + Duration, It->second};
    bool KeepBefore = Before.second - Before.first >= MinUseful;
    bool KeepAfter = After.second - After.first >= MinUseful;
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

  size_t size() const { return Gaps.size(); }

private:
  static constexpr double Eps = GapTimeline::Eps;
  std::vector<std::pair<double, double>> Gaps;
  double MinUseful;
};

/// Busy intervals of one step: \p Count random intervals within [0, StepMs).
std::vector<std::pair<double, double>> randomBusy(std::mt19937_64 &Rng, double StepMs, int Count) {
  std::uniform_real_distribution<double> At(0, StepMs), Len(0, StepMs / Count);
  std::vector<std::pair<double, double>> Busy;
  for (int I = 0; I < Count; ++I) {
    double S = At(Rng);
    Busy.push_back({S, std::min(StepMs, S + Len(Rng))});
  }
  return Busy;
}

} // namespace

TEST_CASE("GapTimeline: the gap index gives what a linear scan of all gaps gives") {
  std::mt19937_64 Rng(20261123);
  int Splits = 0, Placed = 0; // blocks split, tasks placed
  for (int Round = 0; Round < 40; ++Round) {
    const double StepMs = std::uniform_real_distribution<double>(1, 1000)(Rng);
    // Half the rounds on few steps (few blocks, each fragmented far past its
    // capacity), half on many.
    const int Steps = 1 + static_cast<int>(Rng() % (Round % 2 ? 64 : 4));
    const int BusyCount = 1 + static_cast<int>(Rng() % 40);
    auto Busy = randomBusy(Rng, StepMs, BusyCount);
    // Short tasks, a tenth to a half of the cycle in all: they fragment the
    // gaps without filling them.
    const double Shortest =
        StepMs * Steps * std::uniform_real_distribution<double>(0.1, 0.5)(Rng) / (2.5 * 3000);
    std::uniform_real_distribution<double> Dur(Shortest, 4 * Shortest);
    std::uniform_real_distribution<double> Ready(0, StepMs * Steps);
    GapTimeline Index(Busy, StepMs, Steps, Shortest);
    FlatGaps Flat(Busy, StepMs, Steps, Shortest);
    REQUIRE(Index.numGaps() == Flat.size());
    const size_t Blocks = Index.numBlocks();
    for (int Op = 0; Op < 3000; ++Op) {
      const double R = Ready(Rng), D = Dur(Rng);
      // Deadlines from just after the ready time to past the cycle.
      const double Deadline = R + D * std::uniform_real_distribution<double>(0.5, 200)(Rng);
      GapTimeline::Fit F = Index.earliestFit(R, D, Deadline);
      auto [Start, Gap] = Flat.earliestFit(R, D, Deadline);
      REQUIRE(F.ok() == (Start >= 0));
      if (!F.ok())
        continue;
      REQUIRE(F.Start == Start); // bit for bit
      Index.reserve(F, D);
      Flat.reserve({Start, Gap}, D);
      ++Placed;
      REQUIRE(Index.numGaps() == Flat.size());
    }
    Splits += static_cast<int>(Index.numBlocks() - Blocks);
  }
  // The random sequences did exercise the index: many placements, and
  // blocks filled past their capacity and split.
  CHECK(Placed > 80000);
  CHECK(Splits > 400);
}

TEST_CASE("GapTimeline: the first fit is the same from every ready time up to it") {
  std::mt19937_64 Rng(7);
  const double StepMs = 100;
  GapTimeline G(randomBusy(Rng, StepMs, 12), StepMs, 16, 0.5);
  std::uniform_real_distribution<double> Ready(0, StepMs * 16), Dur(0.5, 8);
  // Fragment the gaps first.
  for (int I = 0; I < 300; ++I) {
    GapTimeline::Fit F = G.firstFit(Ready(Rng), 0.5);
    if (F.ok())
      G.reserve(F, 0.5);
  }
  int Checked = 0;
  for (int I = 0; I < 2000; ++I) {
    const double R = Ready(Rng), D = Dur(Rng);
    GapTimeline::Fit F = G.firstFit(R, D);
    if (!F.ok())
      continue;
    CHECK(F.Start >= R);
    for (double T : {R, (R + F.Start) / 2, F.Start}) {
      GapTimeline::Fit Again = G.firstFit(T, D);
      CHECK(Again.Start == F.Start);
      CHECK(Again.Block == F.Block);
      CHECK(Again.Index == F.Index);
    }
    // A later ready time never finds an earlier fit.
    GapTimeline::Fit Later = G.firstFit(F.Start + 1e-3, D);
    CHECK((!Later.ok() || Later.Start >= F.Start + 1e-3));
    ++Checked;
  }
  CHECK(Checked > 1000);
}
