//===- CycleScheduler.cpp - list scheduling of K-FAC work into gaps --------===//
#include "CycleScheduler.h"

#include "GapTimeline.h"

#include <algorithm>
#include <cmath>
#include <queue>

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
  Preds.assign(M, {});
  Succs.assign(M, {});
  for (auto [From, To] : P.Edges) {
    int32_t J = IndexOf[To];
    if (J < 0)
      continue;
    int32_t I = IndexOf[From];
    if (I < 0) {
      StepReady[J] = std::max(StepReady[J], P.Time.End[From]);
    } else {
      Preds[J].push_back(I);
      Succs[I].push_back(J);
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
      for (int32_t S : Succs[I])
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
  for (TaskId T : Tasks) {
    double &Min = Shortest[static_cast<size_t>(P.Tasks[T].Device) * NumStreams +
                           P.Tasks[T].Stream];
    Min = std::min(Min, P.Tasks[T].DurationMs);
  }
  for (double &Min : Shortest)
    if (Min == HUGE_VAL)
      Min = 0;
  for (TaskId T = 0; T < N; ++T) {
    const Task &Tk = P.Tasks[T];
    if (isCycleTask(Tk.Kind) || Tk.DurationMs <= 0)
      continue;
    Busy[static_cast<size_t>(Tk.Device) * NumStreams + Tk.Stream].emplace_back(P.Time.Start[T],
                                                                               P.Time.End[T]);
  }
}

CyclePlacement CycleProblem::place(const Program &P, double StepMs, int Steps,
                                   const CycleSchedulerConfig &Config) const {
  CyclePlacement Result;
  const int32_t M = size();
  std::vector<GapTimeline> Lanes;
  Lanes.reserve(Busy.size());
  for (size_t L = 0; L < Busy.size(); ++L)
    Lanes.emplace_back(Busy[L], StepMs, Steps, Shortest[L]);
  std::vector<double> Start(M, -1), End(M, 0);
  std::vector<int> &Lags = Result.DataLag;
  Lags.assign(M, 0);
  const double CycleEnd = StepMs * Steps;

  auto PlaceOne = [&](int32_t I) {
    const Task &Tk = P.Tasks[Tasks[I]];
    GapTimeline &Lane = Lanes[static_cast<size_t>(Tk.Device) * NumStreams + Tk.Stream];
    double Ready = 0;
    for (int32_t Q : Preds[I])
      Ready = std::max(Ready, End[Q]);
    GapTimeline::Fit At;
    int Lag = 0;
    if (StepReady[I] < 0) {
      At = Lane.earliestFit(Ready, Tk.DurationMs, CycleEnd);
    } else {
      // Curvature uses the data of step D: it runs after that step's
      // forward/backward, in step D or, keeping its data one step longer, in
      // step D+1. Data of the previous cycle's last step can be used at the
      // start of step 0, before this cycle's instance is produced.
      const double R = StepReady[I];
      for (int D = static_cast<int>(std::floor(Ready / StepMs)); D < Steps && !At.ok(); ++D) {
        At = Lane.earliestFit(std::max(Ready, D * StepMs + R), Tk.DurationMs,
                              std::min((D + 2) * StepMs, CycleEnd));
        Lag = At.ok() ? static_cast<int>(std::floor(At.Start / StepMs + 1e-12)) - D : 0;
      }
      if (!At.ok() && Ready <= 0) {
        At = Lane.earliestFit(0, Tk.DurationMs, std::min(R, StepMs));
        Lag = 1;
      }
    }
    if (!At.ok())
      return false;
    Lane.reserve(At, Tk.DurationMs);
    Start[I] = At.Start;
    End[I] = At.Start + Tk.DurationMs;
    Lags[I] = Lag;
    return true;
  };

  if (Config.FixedOrder) {
    std::vector<int32_t> Order(M);
    for (int32_t I = 0; I < M; ++I)
      Order[I] = I;
    std::stable_sort(Order.begin(), Order.end(), [&](int32_t A, int32_t B) {
      const Task &X = P.Tasks[Tasks[A]], &Y = P.Tasks[Tasks[B]];
      return std::tuple(kindRank(X.Kind), X.Microbatch, X.Layer) <
             std::tuple(kindRank(Y.Kind), Y.Microbatch, Y.Layer);
    });
    for (int32_t I : Order)
      if (!PlaceOne(I))
        return {};
    Result.Start = std::move(Start);
    return Result;
  }

  auto Lower = [&](int32_t A, int32_t B) {
    return Priority[A] != Priority[B] ? Priority[A] < Priority[B] : A > B;
  };
  std::priority_queue<int32_t, std::vector<int32_t>, decltype(Lower)> Ready(Lower);
  std::vector<int32_t> Waiting(M);
  for (int32_t I = 0; I < M; ++I)
    if ((Waiting[I] = static_cast<int32_t>(Preds[I].size())) == 0)
      Ready.push(I);
  int32_t Placed = 0;
  while (!Ready.empty()) {
    int32_t I = Ready.top();
    Ready.pop();
    if (!PlaceOne(I))
      return {};
    ++Placed;
    for (int32_t S : Succs[I])
      if (--Waiting[S] == 0)
        Ready.push(S);
  }
  if (Placed != M)
    return {};
  Result.Start = std::move(Start);
  return Result;
}

} // namespace pfc
