//===- KfacTest.cpp - K-FAC insertion and bubble filling -------------------===//
//
// Checks the gap resource model against hand-computed intervals, and the
// placement of K-FAC work against invariants computed independently here:
// nothing overlaps on a stream over the whole k-step cycle, curvature runs
// in one step after its forward/backward of that step, inversions follow
// their factor, k is at least the lower bound and is the smallest k that
// fits.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "ir/PlanConversion.h"
#include "ir/Verifier.h"

#include "passes/CycleScheduler.h"
#include "passes/GapTimeline.h"

#include <doctest/doctest.h>

#include <map>
#include <set>

#include <algorithm>
#include <cmath>

using namespace pfc;
using namespace pfc::test;

TEST_CASE("GapTimeline: gaps repeat per step and never cross a step boundary") {
  GapTimeline G({{1, 2}, {3, 5}}, 6, 2);
  auto At = [&](double Ready, double Dur, double Deadline) {
    return G.earliestFit(Ready, Dur, Deadline).Start;
  };
  CHECK(G.idlePerStep() == doctest::Approx(3));
  CHECK(At(0, 1, 12) == 0);
  CHECK(At(0, 1.5, 12) < 0); // every gap is 1 ms long
  CHECK(At(2.5, 0.5, 12) == doctest::Approx(2.5));
  CHECK(At(5.5, 1, 12) == doctest::Approx(6)); // [5,6) then [6,7): not joined
  CHECK(At(7, 1, 9) == doctest::Approx(8));
  CHECK(At(7, 1, 8.5) < 0); // deadline
  G.reserve(G.earliestFit(0, 1, 12), 1);
  CHECK(At(0, 1, 12) == doctest::Approx(2));
  G.reserve(G.earliestFit(2.25, 0.5, 12), 0.5); // splits [2,3) into [2,2.25) and [2.75,3)
  CHECK(At(2, 0.25, 12) == doctest::Approx(2));
  CHECK(At(2.1, 0.25, 12) == doctest::Approx(2.75));
  CHECK(G.idlePerStep() == doctest::Approx(3)); // a property of the step, not of placements
}

TEST_CASE("GapTimeline: touching gaps of adjacent steps are reserved where found") {
  // A step of 0.1 ms idles at its start and end: the gap ending step t and the
  // one starting step t+1 touch, within rounding, at (t+1) x 0.1.
  GapTimeline G({{0.03, 0.07}}, 0.1, 40);
  for (int I = 0; I < 200; ++I) {
    GapTimeline::Fit F = G.earliestFit(0, 0.01, 4.0);
    REQUIRE(F.ok());
    G.reserve(F, 0.01);
    // Nothing placed so far may be found free again.
    CHECK(G.earliestFit(F.Start, 0.01, F.Start + 0.01).Start != doctest::Approx(F.Start));
  }
}

namespace {

/// A uniform pipeline whose stage s holds block s+1 (so every stage has K-FAC
/// work), with K-FAC inserted and the cycle task durations set by hand.
Program kfacProgram(proto::Schedule Sched, int32_t S, int32_t N, double Curv, double Inv,
                    proto::KfacOptions::Placement Placement = proto::KfacOptions::LIST,
                    double MaxPiece = 0) {
  Program P = uniformProgram(Sched, S, N);
  for (Stage &St : P.Stages) {
    St.LayerBegin = St.Position + 1;
    St.LayerEnd = St.Position + 2;
  }
  P.Options.set_optimizer(proto::KFAC);
  P.Options.mutable_kfac()->set_placement(Placement);
  P.Options.mutable_kfac()->set_max_piece_ms(MaxPiece);
  // uniformProgram has no model dimensions: a profile row gives the K-FAC work
  // its costs (split evenly between the A and B sides).
  proto::BlockProfile *Prof = P.Options.mutable_profile();
  Prof->set_kron_ms(2 * Curv);
  Prof->set_inv_ms(2 * Inv);
  const char *Schedule = Sched == proto::GPIPE     ? "schedule-gpipe"
                         : Sched == proto::CHIMERA ? "schedule-chimera"
                                                   : "schedule-1f1b";
  runPasses(P, std::string(Schedule) + ",insert-comm,dp-sync,kfac-insert");
  runPasses(P, "simulate,bubble-fill,memory,verify");
  return P;
}

/// Independent check of a placed cycle: returns "" or what is wrong.
std::string checkCycle(const Program &P) {
  const double T = P.Time.StepTimeMs;
  const int K = P.Time.CycleSteps;
  std::vector<std::vector<std::pair<double, double>>> Busy(P.numDevices() * NumStreams);
  for (TaskId I = 0; I < P.numTasks(); ++I) {
    const Task &Tk = P.Tasks[I];
    if (Tk.DurationMs <= 0)
      continue;
    auto &Lane = Busy[Tk.Device * NumStreams + Tk.Stream];
    if (isCycleTask(Tk.Kind)) {
      Lane.emplace_back(P.Time.Start[I], P.Time.End[I]);
      if (P.Time.End[I] > K * T + 1e-9)
        return "task " + std::to_string(I) + " ends after the cycle";
    } else {
      for (int S = 0; S < K; ++S)
        Lane.emplace_back(P.Time.Start[I] + S * T, P.Time.End[I] + S * T);
    }
  }
  for (auto &Lane : Busy) {
    std::sort(Lane.begin(), Lane.end());
    for (size_t J = 1; J < Lane.size(); ++J)
      if (Lane[J].first < Lane[J - 1].second - 1e-9)
        return "overlap at " + std::to_string(Lane[J].first);
  }
  for (auto [From, To] : P.Edges) {
    const Task &A = P.Tasks[From], &B = P.Tasks[To];
    if (!isCycleTask(B.Kind))
      continue;
    double Ready = P.Time.End[From];
    if (!isCycleTask(A.Kind)) {
      if (B.DataLag < 0 || B.DataLag > 1)
        return "curvature task " + std::to_string(To) + " has data lag " +
               std::to_string(B.DataLag);
      Ready += (B.CycleStep - B.DataLag) * T;
      if (P.Time.End[To] > (B.CycleStep + 1) * T + 1e-9)
        return "curvature task " + std::to_string(To) + " leaves its step";
    }
    if (P.Time.Start[To] < Ready - 1e-9)
      return "task " + std::to_string(To) + " starts before task " + std::to_string(From);
  }
  return "";
}

} // namespace

TEST_CASE("bubble-fill: GPipe 4x4, the cycle is valid and k meets its lower bound") {
  // Per device: idle per step = 3 * (F + B) = 9 ms; K-FAC work = 4 micro-batches x
  // 2 factors x 1 ms + 2 inversions x 3 ms = 14 ms -> lower bound 2 steps.
  Program P = kfacProgram(proto::GPIPE, 4, 4, 1.0, 3.0);
  CHECK(checkCycle(P) == "");
  CHECK(P.Time.StepTimeMs == doctest::Approx(21));
  CHECK(P.Kfac.lower_bound_steps() == 2);
  CHECK(P.Kfac.refresh_steps() >= 2);
  CHECK(P.Kfac.refresh_steps() <= 3);
  CHECK(P.Kfac.step_time_ms_with() == doctest::Approx(P.Kfac.step_time_ms_without()));
  // Pieces of at most a quarter forward (0.25 ms): 1 ms curvature in 4 pieces
  // (the most curvature is split into), 3 ms inversions in 12.
  CHECK(P.Kfac.tasks() == 4 * (4 * 2 * 4 + 2 * 12));
  // k is the smallest that fits: one step fewer does not.
  CycleProblem Problem(P);
  CHECK_FALSE(Problem.place(P, P.Time.StepTimeMs, P.Kfac.refresh_steps() - 1, {}).ok());
}

TEST_CASE("bubble-fill: 1F1B and the PipeFisher baseline stay valid") {
  for (auto Placement : {proto::KfacOptions::LIST, proto::KfacOptions::PIPEFISHER}) {
    Program P = kfacProgram(proto::ONE_F_ONE_B, 4, 8, 0.5, 2.0, Placement);
    CAPTURE(Placement);
    CHECK(checkCycle(P) == "");
    CHECK(P.Kfac.refresh_steps() >= P.Kfac.lower_bound_steps());
    CHECK(P.Kfac.placement() == (Placement == proto::KfacOptions::LIST ? "list" : "pipefisher"));
  }
}

TEST_CASE("bubble-fill: an inversion longer than every bubble still completes") {
  // GPipe 2x2: each device idles 3 ms per step in one or two gaps; a 10 ms inversion
  // fits no gap. Split into pieces it fits without stretching the step; PipeFisher,
  // which never splits, must stretch the step and say so.
  Program Split = kfacProgram(proto::GPIPE, 2, 2, 0.25, 10.0);
  CHECK(checkCycle(Split) == "");
  CHECK(Split.Kfac.split_inversions() > 0);
  CHECK(Split.Kfac.step_time_ms_with() == doctest::Approx(Split.Kfac.step_time_ms_without()));
  CHECK(Split.Warnings.empty());

  Program Whole = kfacProgram(proto::GPIPE, 2, 2, 0.25, 10.0, proto::KfacOptions::PIPEFISHER);
  CHECK(checkCycle(Whole) == "");
  CHECK(Whole.Kfac.split_inversions() == 0);
  CHECK(Whole.Kfac.step_time_ms_with() > Whole.Kfac.step_time_ms_without());
  REQUIRE(Whole.Warnings.size() == 1);
  CHECK(Whole.Warnings[0].find("the step grows by") != std::string::npos);
  // It says why: device 0 idles in one 3 ms gap, device 1 in 1 and 2 ms ones.
  CHECK(Whole.Warnings[0].find("; 2 of device 0's K-FAC tasks (up to 10.000 ms) are longer than "
                               "its longest gap (3.000 ms)") != std::string::npos);
}

TEST_CASE("bubble-fill: the stretch search starts from a bound on the gaps each task fits") {
  // GPipe 2x2, F 1 ms, B 2 ms: a 9 ms step; device 0 idles in [2, 5), device 1
  // in [0, 1) and [7, 9). PipeFisher keeps each 10 ms inversion whole: no gap
  // holds one, so the step must grow until device 0's end gap (none) holds it:
  // 10 ms over 64 steps. Over one step both 10 ms inversions must fit the end
  // gap of the one step: 20 ms (device 1's 2 ms end gap leaves it 18).
  Program Whole = kfacProgram(proto::GPIPE, 2, 2, 0.25, 10.0, proto::KfacOptions::PIPEFISHER);
  REQUIRE(Whole.Kfac.step_time_ms_without() == doctest::Approx(9));
  CycleProblem Problem(Whole);
  CHECK(Problem.stretchBound(9, 64) == doctest::Approx(10));
  CHECK(Problem.stretchBound(9, 1) == doctest::Approx(20));
  CycleSchedulerConfig FixedOrder;
  FixedOrder.FixedOrder = true;
  CHECK_FALSE(Problem.place(Whole, 9 + 9.9, 64, FixedOrder).ok()); // a bound indeed
  CHECK(Problem.place(Whole, 9 + 10, 64, FixedOrder).ok());        // and here a tight one
  // The search ends within 5% of the stretch (or 1% of the step) of the least.
  CHECK(Whole.Kfac.stretch_ms() >= 10 - 1e-9);
  CHECK(Whole.Kfac.stretch_ms() <= 10 * 1.06);
  CHECK(checkCycle(Whole) == "");
}

TEST_CASE("kfac-insert: preconditioning sits between the gradient and the optimizer step") {
  Program P = kfacProgram(proto::ONE_F_ONE_B, 2, 2, 0.5, 1.0);
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    const auto &S = P.stream(D, proto::COMPUTE);
    auto Opt = std::find_if(S.begin(), S.end(),
                            [&](TaskId T) { return P.Tasks[T].Kind == proto::OPTIMIZER_STEP; });
    REQUIRE(Opt != S.end());
    // The precondition runs every step: it is the last per-step task before the update.
    auto Prev = Opt;
    do
      --Prev;
    while (isCycleTask(P.Tasks[*Prev].Kind));
    CHECK(P.Tasks[*Prev].Kind == proto::PRECONDITION);
  }
}

namespace {
/// The verifier's message for \p P, or "".
std::string verifyText(const Program &P) { return errorText(verifyProgram(P)); }

TaskId firstOfKind(const Program &P, TaskKind K) {
  for (TaskId T = 0; T < P.numTasks(); ++T)
    if (P.Tasks[T].Kind == K)
      return T;
  return NoTask;
}
} // namespace

TEST_CASE("verify: every K-FAC rule across the cycle, broken on purpose") {
  const Program Good = kfacProgram(proto::GPIPE, 4, 4, 1.0, 3.0);
  REQUIRE(verifyText(Good) == "");
  const double T = Good.Time.StepTimeMs;

  SUBCASE("curvature before its forward in the step whose data it uses") {
    Program P = Good;
    TaskId C = firstOfKind(P, proto::CURVATURE_A);
    P.Tasks[C].DataLag = 0;
    P.Time.Start[C] = P.Tasks[C].CycleStep * T; // step start: before any forward ends
    P.Time.End[C] = P.Time.Start[C] + P.Tasks[C].DurationMs;
    CHECK(verifyText(P).find("before its dependency") != std::string::npos);
  }
  SUBCASE("inversion before its factor's curvature") {
    Program P = Good;
    TaskId I = firstOfKind(P, proto::INVERT_B);
    P.Tasks[I].CycleStep = 0;
    P.Time.Start[I] = 0;
    P.Time.End[I] = P.Tasks[I].DurationMs;
    CHECK(verifyText(P).find("before its dependency") != std::string::npos);
  }
  SUBCASE("a cycle task on top of a per-step task in a later step") {
    Program P = Good;
    TaskId I = firstOfKind(P, proto::INVERT_A);
    TaskId F = firstOfKind(P, proto::FORWARD);
    // Device of the inversion runs a forward of its own: overlap it in the last step.
    for (TaskId X = 0; X < P.numTasks(); ++X)
      if (P.Tasks[X].Kind == proto::FORWARD && P.Tasks[X].Device == P.Tasks[I].Device)
        F = X;
    const int Last = P.Time.CycleSteps - 1;
    P.Tasks[I].CycleStep = Last;
    P.Time.Start[I] = P.Time.Start[F] + Last * T;
    P.Time.End[I] = P.Time.Start[I] + P.Tasks[I].DurationMs;
    std::string Msg = verifyText(P);
    CHECK(Msg.find("verify:") != std::string::npos);
    CHECK(Msg != "");
  }
  SUBCASE("a cycle task after the end of the cycle") {
    Program P = Good;
    TaskId I = firstOfKind(P, proto::INVERT_A);
    P.Time.Start[I] = P.Time.CycleSteps * T + 1;
    P.Time.End[I] = P.Time.Start[I] + P.Tasks[I].DurationMs;
    CHECK(verifyText(P) != "");
  }
  SUBCASE("two cycle tasks at once on one compute stream") {
    Program P = Good;
    TaskId A = NoTask, B = NoTask;
    for (TaskId X = 0; X < P.numTasks() && B == NoTask; ++X)
      if (P.Tasks[X].Kind == proto::CURVATURE_A)
        (A == NoTask ? A : B) = X; // same stage: same device
    P.Tasks[B].CycleStep = P.Tasks[A].CycleStep;
    P.Tasks[B].DataLag = P.Tasks[A].DataLag;
    P.Time.Start[B] = P.Time.Start[A];
    P.Time.End[B] = P.Time.End[A];
    CHECK(verifyText(P).find("verify:") != std::string::npos);
  }
}

TEST_CASE("bubble-fill: Chimera's two factor all-reduces of a block are one collective") {
  // Each device shares its collectives with one partner (device S-1-d): the
  // factor all-reduces of a block start together, and none falls between the
  // two halves of a gradient all-reduce, so both devices meet their
  // collectives in one order.
  Program P = kfacProgram(proto::CHIMERA, 4, 4, 1.0, 3.0);
  const double T = P.Time.StepTimeMs;
  std::map<int32_t, std::vector<TaskId>> ByLayer;
  std::map<int32_t, std::vector<TaskId>> GradientByPosition;
  for (TaskId X = 0; X < P.numTasks(); ++X) {
    const Task &Tk = P.Tasks[X];
    if (Tk.Kind == proto::FACTOR_ALL_REDUCE)
      ByLayer[Tk.Layer].push_back(X);
    else if (Tk.Kind == proto::ALL_REDUCE)
      GradientByPosition[P.Stages[Tk.Stage].Position].push_back(X);
  }
  REQUIRE(ByLayer.size() == 4);
  for (auto &[Layer, Pair] : ByLayer) {
    CAPTURE(Layer);
    REQUIRE(Pair.size() == 2);
    CHECK(P.Tasks[Pair[0]].Device + P.Tasks[Pair[1]].Device == 3);
    CHECK(P.Tasks[Pair[0]].CycleStep == P.Tasks[Pair[1]].CycleStep);
    CHECK(P.Time.Start[Pair[0]] == P.Time.Start[Pair[1]]);
    const double Within = P.Time.Start[Pair[0]] - P.Tasks[Pair[0]].CycleStep * T;
    for (auto &[Position, Halves] : GradientByPosition) {
      REQUIRE(Halves.size() == 2);
      CHECK((Within < P.Time.Start[Halves[0]]) == (Within < P.Time.Start[Halves[1]]));
    }
  }

  SUBCASE("the verifier catches a pair placed apart") {
    TaskId X = ByLayer.begin()->second[1];
    P.Time.Start[X] += 1e-3;
    P.Time.End[X] += 1e-3;
    CHECK(verifyText(P).find("reduce the same block's factors together but start apart") !=
          std::string::npos);
  }
}

namespace {

/// 1F1B over \p S devices with \p Blocks blocks per stage and \p N
/// micro-batches; 1 ms of curvature per block and side, K-FAC inserted and
/// placed (kfac-insert's granularity rules decide pieces and groups).
Program blocksProgram(int32_t S, int32_t N, int32_t Blocks, int32_t CurvatureBlocks = 0) {
  Program P = uniformProgram(proto::ONE_F_ONE_B, S, N);
  P.Model.set_num_layers(S * Blocks);
  for (Stage &St : P.Stages) {
    St.LayerBegin = St.Position * Blocks + 1;
    St.LayerEnd = St.LayerBegin + Blocks;
  }
  P.Stages.front().LayerBegin = 0;
  P.Stages.back().LayerEnd = S * Blocks + 2;
  P.Options.set_optimizer(proto::KFAC);
  P.Options.mutable_kfac()->set_curvature_blocks(CurvatureBlocks);
  P.Options.mutable_profile()->set_kron_ms(2);
  P.Options.mutable_profile()->set_inv_ms(2);
  runPasses(P, "schedule-1f1b,insert-comm,dp-sync,kfac-insert,bubble-fill,memory,verify");
  return P;
}

/// Per device: curvature tasks, and how many of them cover each block count.
struct CurvatureCount {
  int64_t Tasks = 0;
  std::map<int32_t, int64_t> ByBlocks;
  int32_t MaxPieces = 0;
};
CurvatureCount curvatureOn(const Program &P, int32_t Device) {
  CurvatureCount C;
  for (const Task &Tk : P.Tasks)
    if ((Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B) && Tk.Device == Device) {
      ++C.Tasks, ++C.ByBlocks[Tk.LayerCount];
      C.MaxPieces = std::max(C.MaxPieces, Tk.Piece + 1);
      CHECK(Tk.DurationMs > 0);
    }
  return C;
}

} // namespace

TEST_CASE("kfac-insert: curvature pieces stay within 1024 per device") {
  // 1 ms curvature, pieces of at most F / 4 = 0.25 ms: 4 pieces while a device
  // has at most 256 per-block curvature tasks, then 1024 / count.
  for (auto [N, Pieces] : {std::pair{32, 4}, {128, 4}, {256, 2}, {512, 1}}) {
    CAPTURE(N);
    Program P = blocksProgram(2, N, 1);
    CurvatureCount C = curvatureOn(P, 0);
    CHECK(C.MaxPieces == Pieces);
    CHECK(C.Tasks == 2 * N * Pieces);
    CHECK(C.ByBlocks.size() == 1);
  }
}

TEST_CASE("kfac-insert: many curvature tasks are grouped over consecutive blocks") {
  // 3 blocks per stage, 256 micro-batches: 1536 per-block tasks per device,
  // so groups of ceil(1536 / 1024) = 2 blocks: {1}, {2, 3} on stage 0.
  Program P = blocksProgram(2, 256, 3);
  CurvatureCount C = curvatureOn(P, 0);
  CHECK(C.Tasks == 2 * 256 * 2);
  CHECK(C.ByBlocks == std::map<int32_t, int64_t>{{1, 512}, {2, 512}});
  CHECK(C.MaxPieces == 1);
  auto Preds = P.predecessors();
  for (TaskId T = 0; T < P.numTasks(); ++T) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B)
      CHECK(Tk.DurationMs == doctest::Approx(1.0 * Tk.LayerCount));
    // Each block's first inversion piece waits for the curvature of its side
    // covering that block, for every micro-batch.
    if ((Tk.Kind == proto::INVERT_A || Tk.Kind == proto::INVERT_B) && Tk.Piece == 0) {
      const TaskKind Side = Tk.Kind == proto::INVERT_A ? proto::CURVATURE_A : proto::CURVATURE_B;
      std::vector<int32_t> Mbs;
      for (TaskId D : Preds.of(T)) {
        const Task &Dep = P.Tasks[D];
        REQUIRE(Dep.Kind == Side);
        CHECK(Dep.Layer <= Tk.Layer);
        CHECK(Tk.Layer < Dep.Layer + Dep.LayerCount);
        Mbs.push_back(Dep.Microbatch);
      }
      std::sort(Mbs.begin(), Mbs.end());
      CHECK(Mbs.size() == 256);
      CHECK(std::adjacent_find(Mbs.begin(), Mbs.end()) == Mbs.end());
    }
  }
  CHECK(checkCycle(P) == "");

  // Set by hand: one task for the stage's three blocks.
  Program Whole = blocksProgram(2, 8, 3, /*CurvatureBlocks=*/3);
  CHECK(curvatureOn(Whole, 1).ByBlocks == std::map<int32_t, int64_t>{{3, 16}});
  CHECK(checkCycle(Whole) == "");
}

TEST_CASE("kfac-insert: under ZeRO the gradient is preconditioned before its reduce-scatter") {
  // No rank holds a layer's whole summed gradient after the reduce-scatter:
  // each replica preconditions its own right after the stage's last backward.
  for (int32_t Zero : {1, 3}) {
    CAPTURE(Zero);
    Program P = uniformProgram(proto::ONE_F_ONE_B, 2, 4);
    for (Stage &St : P.Stages) {
      St.LayerBegin = St.Position + 1;
      St.LayerEnd = St.Position + 2;
      St.ParamBytes = 1000;
    }
    P.Options.set_data_parallel(2);
    P.Options.set_zero(Zero);
    P.Options.set_optimizer(proto::KFAC);
    P.Options.mutable_profile()->set_kron_ms(0.5);
    P.Options.mutable_profile()->set_inv_ms(1);
    runPasses(P, "schedule-1f1b,insert-comm,zero-sync,kfac-insert,bubble-fill,memory,verify");
    auto Has = [&](TaskId From, TaskId To) {
      return std::find(P.Edges.begin(), P.Edges.end(), std::pair(From, To)) != P.Edges.end();
    };
    for (int32_t S = 0; S < P.numStages(); ++S) {
      TaskId Prec = NoTask, Scatter = NoTask, Opt = NoTask, LastB = NoTask;
      for (TaskId T = 0; T < P.numTasks(); ++T) {
        const Task &Tk = P.Tasks[T];
        if (Tk.Stage != S)
          continue;
        Prec = Tk.Kind == proto::PRECONDITION ? T : Prec;
        Scatter = Tk.Kind == proto::REDUCE_SCATTER ? T : Scatter;
        Opt = Tk.Kind == proto::OPTIMIZER_STEP ? T : Opt;
      }
      const auto &Stream = P.stream(P.Stages[S].Device, proto::COMPUTE);
      for (TaskId T : Stream)
        LastB = P.Tasks[T].Kind == proto::BACKWARD && P.Tasks[T].Stage == S ? T : LastB;
      REQUIRE(Prec != NoTask);
      REQUIRE(Scatter != NoTask);
      CHECK(Has(LastB, Prec));
      CHECK(Has(Prec, Scatter));
      CHECK_FALSE(Has(LastB, Scatter));
      CHECK(Has(Scatter, Opt));
      auto At = std::find(Stream.begin(), Stream.end(), LastB);
      REQUIRE(At + 1 != Stream.end());
      CHECK(At[1] == Prec); // right after the last backward, not before the update
    }
  }
}

TEST_CASE("kfac-insert: curvature from an evenly spaced share of the micro-batches") {
  for (auto [Sched, Expect] :
       {std::pair{proto::ONE_F_ONE_B, std::set<int32_t>{0, 2, 4, 6}},
        // Chimera: each pipeline samples its own half (down runs 0, 1, 4, 5).
        std::pair{proto::CHIMERA, std::set<int32_t>{0, 2, 4, 6}}}) {
    CAPTURE(Sched);
    Program P = uniformProgram(Sched, 4, 8);
    for (Stage &St : P.Stages) {
      St.LayerBegin = St.Position + 1;
      St.LayerEnd = St.Position + 2;
    }
    P.Options.set_optimizer(proto::KFAC);
    P.Options.mutable_kfac()->set_curvature_microbatches(4);
    P.Options.mutable_profile()->set_kron_ms(0.5);
    P.Options.mutable_profile()->set_inv_ms(1);
    runPasses(P, std::string(Sched == proto::CHIMERA ? "schedule-chimera" : "schedule-1f1b") +
                     ",insert-comm,dp-sync,kfac-insert,bubble-fill,memory,verify");
    std::map<int32_t, std::set<int32_t>> ByLayer; // block -> micro-batches of its curvature A
    for (const Task &Tk : P.Tasks)
      if (Tk.Kind == proto::CURVATURE_A)
        ByLayer[Tk.Layer].insert(Tk.Microbatch);
    REQUIRE(ByLayer.size() == 4);
    for (auto &[Layer, Mbs] : ByLayer) {
      CAPTURE(Layer);
      CHECK(Mbs == Expect);
    }
    CHECK(checkCycle(P) == "");
  }
  Program Bad = uniformProgram(proto::ONE_F_ONE_B, 2, 2);
  Bad.Options.set_optimizer(proto::KFAC);
  Bad.Options.mutable_kfac()->set_curvature_microbatches(3);
  CHECK(pipelineError(Bad, "schedule-1f1b,insert-comm,dp-sync,kfac-insert") ==
        "pfc: error: kfac-insert: options.kfac.curvature_microbatches is 3; it must be in [0, 2] "
        "(the micro-batches; 0: all of them)");
}
