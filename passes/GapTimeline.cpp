//===- GapTimeline.cpp - idle intervals of one stream over a cycle ---------===//
#include "GapTimeline.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace pfc {

GapTimeline::GapTimeline(std::vector<std::pair<double, double>> Busy, double StepMs, int Steps,
                         double MinUseful)
    : MinUseful(std::max(Eps, MinUseful - Eps)) {
  if (!std::is_sorted(Busy.begin(), Busy.end()))
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

  // Blocks start half full, so that splitting gaps rarely splits blocks.
  const size_t Fill = BlockCapacity / 2;
  const size_t Total = Step.size() * static_cast<size_t>(std::max(0, Steps));
  Blocks.reserve((Total + Fill - 1) / Fill);
  for (int T = 0; T < Steps; ++T)
    for (const Gap &G : Step) {
      if (Blocks.empty() || Blocks.back().Gaps.size() == Fill) {
        Blocks.emplace_back();
        Blocks.back().Gaps.reserve(BlockCapacity + 1);
      }
      Blocks.back().Gaps.push_back({G.Start + T * StepMs, G.End + T * StepMs});
      Blocks.back().End = Blocks.back().Gaps.back().End;
      FreeMs += Blocks.back().Gaps.back().End - Blocks.back().Gaps.back().Start;
    }
  buildTree();
}

size_t GapTimeline::numGaps() const {
  size_t N = 0;
  for (const Block &B : Blocks)
    N += B.Gaps.size();
  return N;
}

double GapTimeline::longest(const Block &B) const {
  double Max = -HUGE_VAL;
  for (const Gap &G : B.Gaps)
    Max = std::max(Max, G.End - G.Start);
  return Max;
}

void GapTimeline::buildTree() {
  Leaves = 1;
  while (Leaves < Blocks.size())
    Leaves *= 2;
  Tree.assign(2 * Leaves, -HUGE_VAL);
  for (size_t B = 0; B < Blocks.size(); ++B)
    Tree[Leaves + B] = longest(Blocks[B]);
  for (size_t I = Leaves - 1; I >= 1; --I)
    Tree[I] = std::max(Tree[2 * I], Tree[2 * I + 1]);
}

void GapTimeline::updateTree(size_t B) {
  size_t I = Leaves + B;
  Tree[I] = longest(Blocks[B]);
  for (I /= 2; I >= 1; I /= 2)
    Tree[I] = std::max(Tree[2 * I], Tree[2 * I + 1]);
}

size_t GapTimeline::nextBlockWith(size_t From, double Length) const {
  if (From >= Blocks.size())
    return Blocks.size();
  // Up while the subtree holds nothing long enough, moving right past it;
  // then down to its leftmost qualifying leaf.
  size_t I = Leaves + From;
  while (!(Tree[I] >= Length)) {
    while (I & 1)
      I /= 2;
    if (I == 0)
      return Blocks.size();
    ++I;
  }
  while (I < Leaves) {
    I *= 2;
    if (!(Tree[I] >= Length))
      ++I;
  }
  return std::min(I - Leaves, Blocks.size());
}

GapTimeline::Fit GapTimeline::firstFit(double Ready, double Duration) const {
  // The first gap ending after Ready is in the first block ending after it:
  // gap ends increase along the blocks.
  auto First = std::partition_point(Blocks.begin(), Blocks.end(),
                                    [&](const Block &B) { return B.End <= Ready; });
  if (First == Blocks.end())
    return {};
  auto FitIn = [&](size_t B, std::vector<Gap>::const_iterator It) -> Fit {
    const std::vector<Gap> &Gaps = Blocks[B].Gaps;
    for (; It != Gaps.end(); ++It) {
      double Start = std::max(It->Start, Ready);
      if (Start + Duration <= It->End + Eps)
        return {Start, static_cast<uint32_t>(B), static_cast<uint32_t>(It - Gaps.begin())};
    }
    return {};
  };
  size_t B = static_cast<size_t>(First - Blocks.begin());
  const std::vector<Gap> &Gaps = First->Gaps;
  Fit F = FitIn(B, std::upper_bound(Gaps.begin(), Gaps.end(), Ready,
                                    [](double R, const Gap &G) { return R < G.End; }));
  // Later blocks: only those with a gap about as long as the task (the tree
  // holds rounded lengths; the exact test is FitIn's).
  const double Need = Duration - 1e-6 - 1e-12 * std::abs(Blocks.back().End);
  while (!F.ok() && (B = nextBlockWith(B + 1, Need)) < Blocks.size())
    F = FitIn(B, Blocks[B].Gaps.begin());
  return F;
}

GapTimeline::Fit GapTimeline::earliestFit(double Ready, double Duration, double Deadline) const {
  // Gap starts increase, so if the first fit ends too late, every later one does.
  Fit F = firstFit(Ready, Duration);
  return endsBy(F, Duration, Deadline) ? F : Fit{};
}

void GapTimeline::reserve(const Fit &F, double Duration) {
  assert(F.ok() && F.Block < Blocks.size() && F.Index < Blocks[F.Block].Gaps.size() &&
         "reserving outside a gap");
  Block &Bk = Blocks[F.Block];
  auto It = Bk.Gaps.begin() + F.Index;
  assert(It->Start <= F.Start + Eps && F.Start + Duration <= It->End + Eps);
  const double End = F.Start + Duration;
  const double Length = It->End - It->Start;
  Gap Before{It->Start, F.Start}, After{End, It->End};
  bool KeepBefore = Before.End - Before.Start >= MinUseful;
  bool KeepAfter = After.End - After.Start >= MinUseful;
  FreeMs -= Length - (KeepBefore ? Before.End - Before.Start : 0) -
            (KeepAfter ? After.End - After.Start : 0);
  if (KeepBefore && KeepAfter) {
    *It = Before;
    Bk.Gaps.insert(It + 1, After);
  } else if (KeepBefore) {
    *It = Before;
  } else if (KeepAfter) {
    *It = After;
  } else {
    Bk.Gaps.erase(It);
  }
  if (Bk.Gaps.size() <= BlockCapacity) {
    // What is left of the gap is shorter: the block's longest changes only
    // if this was it.
    if (Length >= Tree[Leaves + F.Block])
      updateTree(F.Block);
    return;
  }
  // Split the block in two halves; the first now ends at its last gap.
  Block Second;
  Second.Gaps.reserve(BlockCapacity + 1);
  Second.Gaps.assign(Bk.Gaps.begin() + BlockCapacity / 2, Bk.Gaps.end());
  Second.End = Bk.End;
  Bk.Gaps.resize(BlockCapacity / 2);
  Bk.End = Bk.Gaps.back().End;
  Blocks.insert(Blocks.begin() + F.Block + 1, std::move(Second));
  buildTree();
}

} // namespace pfc
