//===- CycleScheduler.cpp - list scheduling of K-FAC work into gaps --------===//
#include "CycleScheduler.h"

#include "GapTimeline.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <tuple>

namespace pfc {

namespace {
int kindRank(TaskKind K) {
  switch (K) {
  case proto::CURVATURE_A:
  case proto::CURVATURE_B: return 0;
  case proto::FACTOR_ALL_REDUCE: return 1;
  default: return 2;
  }
}
} // namespace

CycleProblem::CycleProblem(const Program &P) {
  const int32_t N = P.numTasks();
  IndexOf.assign(N, -1);
  for (TaskId T = 0; T < N; ++T)
    if (isCycleTask(P.Tasks[T].Kind)) {
      IndexOf[T] = static_cast<int32_t>(Tasks.size());
      Tasks.push_back(T);
    }
  const int32_t M = size();
  StepReady.assign(M, -1);
  // Edges among cycle tasks as two CSR adjacencies (in edge order).
  Preds.Offsets.assign(M + 1, 0);
  Succs.Offsets.assign(M + 1, 0);
  for (auto [From, To] : P.Edges) {
    int32_t J = IndexOf[To];
    if (J < 0)
      continue;
    int32_t I = IndexOf[From];
    if (I < 0) {
      StepReady[J] = std::max(StepReady[J], P.Time.End[From]);
    } else {
      ++Preds.Offsets[J + 1];
      ++Succs.Offsets[I + 1];
    }
  }
  for (int32_t I = 0; I < M; ++I) {
    Preds.Offsets[I + 1] += Preds.Offsets[I];
    Succs.Offsets[I + 1] += Succs.Offsets[I];
  }
  Preds.Targets.resize(Preds.Offsets[M]);
  Succs.Targets.resize(Succs.Offsets[M]);
  {
    std::vector<int32_t> PredAt(Preds.Offsets.begin(), Preds.Offsets.end() - 1);
    std::vector<int32_t> SuccAt(Succs.Offsets.begin(), Succs.Offsets.end() - 1);
    for (auto [From, To] : P.Edges) {
      int32_t J = IndexOf[To], I = IndexOf[From];
      if (J >= 0 && I >= 0) {
        Preds.Targets[PredAt[J]++] = I;
        Succs.Targets[SuccAt[I]++] = J;
      }
    }
  }
  // Priority: the task's duration plus the longest chain after it. Tasks
  // were created in dependency order, so one reverse sweep suffices unless
  // an edge points backwards; iterate to a fixed point to be safe.
  Priority.assign(M, 0);
  for (bool Changed = true; Changed;) {
    Changed = false;
    for (int32_t I = M - 1; I >= 0; --I) {
      double Best = 0;
      for (int32_t S : Succs.of(I))
        Best = std::max(Best, Priority[S]);
      double V = P.Tasks[Tasks[I]].DurationMs + Best;
      if (V > Priority[I] + 1e-12) {
        Priority[I] = V;
        Changed = true;
      }
    }
  }
  Busy.assign(static_cast<size_t>(P.numDevices()) * NumStreams, {});
  Shortest.assign(Busy.size(), HUGE_VAL);
  Used.assign(Busy.size(), 0);
  Duration.resize(M);
  LaneOf.resize(M);
  for (int32_t I = 0; I < M; ++I) {
    const Task &Tk = P.Tasks[Tasks[I]];
    const int32_t Lane = Tk.Device * NumStreams + Tk.Stream;
    Duration[I] = Tk.DurationMs;
    LaneOf[I] = Lane;
    Shortest[Lane] = std::min(Shortest[Lane], Tk.DurationMs);
    Used[Lane] = 1;
  }
  for (double &Min : Shortest)
    if (Min == HUGE_VAL)
      Min = 0;
  // Only lanes with cycle tasks need their busy intervals.
  for (TaskId T = 0; T < N; ++T) {
    const Task &Tk = P.Tasks[T];
    const size_t Lane = static_cast<size_t>(Tk.Device) * NumStreams + Tk.Stream;
    if (isCycleTask(Tk.Kind) || Tk.DurationMs <= 0 || !Used[Lane])
      continue;
    Busy[Lane].emplace_back(P.Time.Start[T], P.Time.End[T]);
  }
  pairCollectives(P);
  for (auto &Lane : Busy)
    std::sort(Lane.begin(), Lane.end());
  // The list policy takes ready tasks by decreasing priority, ties by index:
  // rank them once.
  std::vector<std::pair<double, int32_t>> Keys(M);
  for (int32_t I = 0; I < M; ++I)
    Keys[I] = {-Priority[I], I};
  std::sort(Keys.begin(), Keys.end());
  ByPriority.resize(M);
  Rank.resize(M);
  for (int32_t R = 0; R < M; ++R) {
    ByPriority[R] = Keys[R].second;
    Rank[Keys[R].second] = R;
  }
}

void CycleProblem::pairCollectives(const Program &P) {
  const int32_t M = size();
  Partner.assign(M, -1);
  std::vector<int32_t> FirstOfLayer(static_cast<size_t>(P.Model.num_layers()) + 2, -1);
  for (int32_t I = 0; I < M; ++I) {
    const Task &Tk = P.Tasks[Tasks[I]];
    if (Tk.Kind != proto::FACTOR_ALL_REDUCE)
      continue;
    int32_t &F = FirstOfLayer[static_cast<size_t>(Tk.Layer)];
    if (F < 0) {
      F = I;
    } else {
      Partner[F] = I;
      Partner[I] = F;
    }
  }
  // Chimera's gradient all-reduce of a stage position is two per-step tasks,
  // one per pipeline, simulated apart: their hull is busy on both devices'
  // collective streams, so a factor all-reduce falls before both or after
  // both.
  std::vector<std::pair<TaskId, TaskId>> Halves(static_cast<size_t>(P.numStages()),
                                                {NoTask, NoTask});
  bool Paired = false;
  for (TaskId T = 0; T < P.numTasks(); ++T) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Kind != proto::ALL_REDUCE || Tk.Stage < 0)
      continue;
    const Stage &St = P.Stages[Tk.Stage];
    auto &H = Halves[static_cast<size_t>(St.Position)];
    (St.Pipeline == 0 ? H.first : H.second) = T;
    Paired |= St.Pipeline > 0;
  }
  if (!Paired)
    return;
  for (auto [A, B] : Halves) {
    if (A == NoTask || B == NoTask)
      continue;
    const double From = std::min(P.Time.Start[A], P.Time.Start[B]);
    const double To = std::max(P.Time.End[A], P.Time.End[B]);
    for (TaskId T : {A, B}) {
      const size_t Lane = static_cast<size_t>(P.Tasks[T].Device) * NumStreams + proto::COLLECTIVE;
      if (Used[Lane]) {
        auto &L = Busy[Lane];
        L.insert(std::upper_bound(L.begin(), L.end(), std::pair(From, To)), {From, To});
      }
    }
  }
}

double CycleProblem::stretchBound(double StepMs, int Steps) const {
  std::vector<std::vector<double>> Lengths(Busy.size());
  for (int32_t I = 0; I < size(); ++I)
    Lengths[LaneOf[I]].push_back(Duration[I]);
  double Bound = 0;
  std::vector<double> Gaps;
  for (size_t L = 0; L < Busy.size(); ++L) {
    std::vector<double> &Tasks = Lengths[L];
    if (Tasks.empty())
      continue;
    // The step's gaps before its last busy interval, and the one after it.
    Gaps.clear();
    double Cursor = 0;
    for (auto [From, To] : Busy[L]) {
      if (From > Cursor)
        Gaps.push_back(From - Cursor);
      Cursor = std::max(Cursor, To);
    }
    const double EndGap = std::max(0.0, StepMs - Cursor);
    std::sort(Gaps.begin(), Gaps.end(), std::greater<>());
    std::sort(Tasks.begin(), Tasks.end(), std::greater<>());
    // Longest first: for each length x, the work of the tasks at least x
    // long against the gaps at least x long.
    double Work = 0, Fits = 0;
    size_t G = 0;
    for (size_t I = 0; I < Tasks.size(); ++I) {
      const double X = Tasks[I];
      Work += X;
      if (I + 1 < Tasks.size() && Tasks[I + 1] == X)
        continue;
      for (; G < Gaps.size() && Gaps[G] >= X; ++G)
        Fits += Gaps[G];
      const double PerStep = Work / Steps;
      if (PerStep > Fits)
        Bound = std::max(Bound, std::max(X, PerStep - Fits) - EndGap);
    }
  }
  return Bound;
}

CycleProblem::Misfit CycleProblem::misfit(double StepMs) const {
  std::vector<double> Gap(Busy.size(), 0);
  for (size_t L = 0; L < Busy.size(); ++L) {
    double Cursor = 0;
    for (auto [From, To] : Busy[L]) {
      Gap[L] = std::max(Gap[L], From - Cursor);
      Cursor = std::max(Cursor, To);
    }
    Gap[L] = std::max(Gap[L], StepMs - Cursor);
  }
  std::vector<Misfit> ByLane(Busy.size());
  std::vector<double> Work(Busy.size(), 0);
  for (int32_t I = 0; I < size(); ++I) {
    const int32_t L = LaneOf[I];
    if (Duration[I] <= Gap[L] + GapTimeline::Eps)
      continue;
    Misfit &M = ByLane[L];
    M.Lane = L;
    ++M.Tasks;
    M.LongestTask = std::max(M.LongestTask, Duration[I]);
    M.LongestGap = Gap[L];
    Work[L] += Duration[I];
  }
  Misfit Worst;
  for (size_t L = 0; L < Busy.size(); ++L)
    if (ByLane[L].Lane >= 0 && (Worst.Lane < 0 || Work[L] > Work[Worst.Lane]))
      Worst = ByLane[L];
  return Worst;
}

CyclePlacement CycleProblem::place(const Program &P, double StepMs, int Steps,
                                   const CycleSchedulerConfig &Config) const {
  CyclePlacement Result;
  const int32_t M = size();
  std::vector<GapTimeline> Lanes;
  Lanes.reserve(Busy.size());
  for (size_t L = 0; L < Busy.size(); ++L)
    Lanes.emplace_back(Busy[L], StepMs, Used[L] ? Steps : 0, Shortest[L]);
  // Work still to place per lane: once it exceeds the lane's free time (a
  // task may overrun its gap by GapTimeline::Eps) the attempt cannot
  // succeed, so it stops there; the answer is the same.
  std::vector<double> WorkLeft(Busy.size(), 0);
  std::vector<int32_t> TasksLeft(Busy.size(), 0);
  for (int32_t I = 0; I < M; ++I) {
    WorkLeft[LaneOf[I]] += Duration[I];
    ++TasksLeft[LaneOf[I]];
  }
  const double Slack = 1e-6 + 1e-9 * StepMs * Steps;
  std::vector<double> Start(M, -1), End(M, 0);
  std::vector<int> &Lags = Result.DataLag;
  Lags.assign(M, 0);
  const double CycleEnd = StepMs * Steps;

  // Keeps the lane's remaining work within its free time (see WorkLeft).
  auto Reserve = [&](int32_t I, const GapTimeline::Fit &At) {
    GapTimeline &Lane = Lanes[LaneOf[I]];
    Lane.reserve(At, Duration[I]);
    double &Left = WorkLeft[LaneOf[I]];
    Left -= Duration[I];
    Start[I] = At.Start;
    End[I] = At.Start + Duration[I];
    return Left <= Lane.freeTime() + Slack + 2 * GapTimeline::Eps * --TasksLeft[LaneOf[I]];
  };
  // A two-device collective: the earliest start free on both streams, after
  // the predecessors of both members (each waits for the other's data).
  auto PlacePair = [&](int32_t I, int32_t J, double Ready) {
    for (int32_t Q : Preds.of(J))
      Ready = std::max(Ready, End[Q]);
    const double Dur = std::max(Duration[I], Duration[J]);
    GapTimeline &A = Lanes[LaneOf[I]], &B = Lanes[LaneOf[J]];
    for (double From = Ready;;) {
      GapTimeline::Fit FA = A.firstFit(From, Dur);
      if (!GapTimeline::endsBy(FA, Dur, CycleEnd))
        return false;
      GapTimeline::Fit FB = B.firstFit(FA.Start, Dur);
      if (!GapTimeline::endsBy(FB, Dur, CycleEnd))
        return false;
      if (FB.Start == FA.Start)
        return Reserve(I, FA) && Reserve(J, FB);
      From = FB.Start; // later than FA.Start: A's fit from there is later too
    }
  };

  auto PlaceOne = [&](int32_t I) {
    const double Dur = Duration[I];
    GapTimeline &Lane = Lanes[LaneOf[I]];
    double Ready = 0;
    for (int32_t Q : Preds.of(I))
      Ready = std::max(Ready, End[Q]);
    if (Partner[I] >= 0)
      return PlacePair(I, Partner[I], Ready);
    GapTimeline::Fit At;
    int Lag = 0;
    if (StepReady[I] < 0) {
      At = Lane.earliestFit(Ready, Dur, CycleEnd);
    } else {
      // Curvature uses the data of step D: it runs after that step's
      // forward/backward, in step D or, keeping its data one step longer, in
      // step D+1. Data of the previous cycle's last step can be used at the
      // start of step 0, before this cycle's instance is produced.
      //
      // The first fit from D's ready time is the first fit from any earlier
      // ready time up to that fit's start, so one search serves every D
      // until D's ready time passes it (only the deadline differs).
      const double R = StepReady[I];
      GapTimeline::Fit Known;
      bool Searched = false;
      for (int D = static_cast<int>(std::floor(Ready / StepMs)); D < Steps && !At.ok(); ++D) {
        const double From = std::max(Ready, D * StepMs + R);
        if (!Searched || From > Known.Start) {
          Known = Lane.firstFit(From, Dur);
          Searched = true;
          if (!Known.ok())
            break; // nothing fits after From, so nothing after any later D's
        }
        if (GapTimeline::endsBy(Known, Dur, std::min((D + 2) * StepMs, CycleEnd))) {
          At = Known;
          Lag = static_cast<int>(std::floor(At.Start / StepMs + 1e-12)) - D;
        } else if (StepMs > 1e-3 && Dur <= StepMs) {
          // Every D whose window ends a step or more before the fit does
          // fails too, and its ready time is still before the fit: skip it.
          D = std::max(D, static_cast<int>(std::floor((Known.Start + Dur) / StepMs)) - 3);
        }
      }
      if (!At.ok() && Ready <= 0) {
        At = Lane.earliestFit(0, Dur, std::min(R, StepMs));
        Lag = 1;
      }
    }
    if (!At.ok())
      return false;
    Lags[I] = Lag;
    return Reserve(I, At);
  };

  if (Config.FixedOrder) {
    if (static_cast<int32_t>(Fixed.size()) != M) {
      Fixed.resize(M);
      for (int32_t I = 0; I < M; ++I)
        Fixed[I] = I;
      std::stable_sort(Fixed.begin(), Fixed.end(), [&](int32_t A, int32_t B) {
        const Task &X = P.Tasks[Tasks[A]], &Y = P.Tasks[Tasks[B]];
        return std::tuple(kindRank(X.Kind), X.Microbatch, X.Layer) <
               std::tuple(kindRank(Y.Kind), Y.Microbatch, Y.Layer);
      });
    }
    // A collective's pair is placed when its second member comes up.
    std::vector<char> Seen(M, 0);
    for (int32_t I : Fixed) {
      Seen[I] = 1;
      if (Partner[I] >= 0 && !Seen[Partner[I]])
        continue;
      if (!PlaceOne(I))
        return {};
    }
    Result.Start = std::move(Start);
    return Result;
  }

  // Ready tasks by rank: those ready from the start are taken in rank order
  // straight from ByPriority; those freed by a placement go through a heap.
  std::vector<int32_t> Waiting(M);
  for (int32_t I = 0; I < M; ++I)
    Waiting[I] = static_cast<int32_t>(Preds.of(I).size());
  std::priority_queue<int32_t, std::vector<int32_t>, std::greater<>> Freed;
  std::vector<char> Popped(M, 0);
  size_t Next = 0;
  auto SkipDependent = [&] {
    while (Next < ByPriority.size() && !Preds.of(ByPriority[Next]).empty())
      ++Next;
  };
  SkipDependent();
  int32_t Placed = 0;
  while (Next < ByPriority.size() || !Freed.empty()) {
    int32_t I;
    if (!Freed.empty() && (Next == ByPriority.size() || Freed.top() < static_cast<int32_t>(Next))) {
      I = ByPriority[Freed.top()];
      Freed.pop();
    } else {
      I = ByPriority[Next++];
      SkipDependent();
    }
    // A collective's pair is placed when both members are ready.
    Popped[I] = 1;
    if (Partner[I] >= 0 && !Popped[Partner[I]])
      continue;
    if (!PlaceOne(I))
      return {};
    for (int32_t X : {I, Partner[I]}) {
      if (X < 0)
        continue;
      ++Placed;
      for (int32_t S : Succs.of(X))
        if (--Waiting[S] == 0)
          Freed.push(Rank[S]);
    }
  }
  if (Placed != M)
    return {};
  Result.Start = std::move(Start);
  return Result;
}

} // namespace pfc
