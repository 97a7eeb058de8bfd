//===- InterleavedChimeraTest.cpp - closed forms of interleaved and Chimera ===//
//
// With equal stage costs and free communication both schedules have known
// step times, bubbles and activation peaks; these tests check the generators
// (through the simulator and the memory pass) against them, and against the
// orders published by Megatron-LM and by Chimera's authors.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "passes/PassManager.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <tuple>

using namespace pfc;
using namespace pfc::test;

namespace {
const char *InterleavedPipeline = "schedule-interleaved,insert-comm,dp-sync,simulate,memory,verify";
const char *ChimeraPipeline = "schedule-chimera,insert-comm,dp-sync,simulate,memory,verify";



/// Number of F (or B) tasks of every (stage, micro-batch).
std::map<std::tuple<bool, int32_t, int32_t>, int> computeCounts(const Program &P) {
  std::map<std::tuple<bool, int32_t, int32_t>, int> Count;
  for (const Task &T : P.Tasks)
    if (T.Kind == proto::FORWARD || T.Kind == proto::BACKWARD)
      ++Count[{T.Kind == proto::BACKWARD, T.Stage, T.Microbatch}];
  return Count;
}

/// The first micro-batch group of the interleaved table (see the pass).
int32_t firstGroup(int32_t S, int32_t N) { return N <= S ? N : S + N % S; }
} // namespace

TEST_CASE("interleaved: bubble (S-1)/(VN+S-1), step (VN+S-1)(F+B) for every N >= S") {
  for (auto [F, B] : {std::pair{1.0, 2.0}, {1.0, 1.0}, {2.0, 1.0}})
    for (int32_t S : {1, 2, 3, 4, 8})
      for (int32_t V : {1, 2, 3, 4})
        for (int32_t N : {S, S + 1, 2 * S, 2 * S + S / 2, 3 * S}) {
          CAPTURE(F);
          CAPTURE(B);
          CAPTURE(S);
          CAPTURE(V);
          CAPTURE(N);
          Program P = uniformProgram(proto::INTERLEAVED, S, N, V, F, B);
          runPasses(P, InterleavedPipeline);
          CHECK(P.Time.StepTimeMs == doctest::Approx((V * N + S - 1) * (F + B)));
          CHECK(P.Time.BubbleFraction == doctest::Approx(double(S - 1) / (V * N + S - 1)));
          for (int32_t D = 0; D < S; ++D)
            CHECK(P.Stats[D].BusyMs == doctest::Approx(V * N * (F + B)));
        }
}

TEST_CASE("interleaved: fewer micro-batches than devices, step (VS+N-1)(F+B)") {
  // Each micro-batch must go round the S devices V times; with N < S the
  // first device waits for it, so the loop length V*S replaces V*N.
  for (int32_t S : {4, 8})
    for (int32_t V : {1, 2, 3})
      for (int32_t N = 1; N < S; ++N) {
        CAPTURE(S);
        CAPTURE(V);
        CAPTURE(N);
        Program P = uniformProgram(proto::INTERLEAVED, S, N, V, 1.0, 2.0);
        runPasses(P, InterleavedPipeline);
        // V = 1 is 1F1B, whose step is (N+S-1)(F+B) for any N.
        int32_t Slots = V == 1 ? N + S - 1 : V * S + N - 1;
        CHECK(P.Time.StepTimeMs == doctest::Approx(Slots * 3.0));
      }
}

TEST_CASE("interleaved: Megatron's order for S=4, V=2, N=8") {
  // Figure 4 of Narayanan et al. (SC'21): device 0 runs 2(S-1)+(V-1)S = 10
  // warm-up forwards, chunk 0 (stage 0) and chunk 1 (stage 4) in groups of
  // four micro-batches, then one forward one backward; the last device warms
  // up with (V-1)S = 4 forwards.
  Program P = uniformProgram(proto::INTERLEAVED, 4, 8, 2);
  runPasses(P, InterleavedPipeline);
  CHECK(computeOrder(P, 0) == "F0.0 F1.0 F2.0 F3.0 F0.4 F1.4 F2.4 F3.4 F4.0 F5.0 "
                              "F6.0 B0.4 F7.0 B1.4 F4.4 B2.4 F5.4 B3.4 F6.4 B0.0 "
                              "F7.4 B1.0 B2.0 B3.0 B4.4 B5.4 B6.4 B7.4 B4.0 B5.0 B6.0 B7.0");
  CHECK(computeOrder(P, 3) == "F0.3 F1.3 F2.3 F3.3 F0.7 B0.7 F1.7 B1.7 F2.7 B2.7 "
                              "F3.7 B3.7 F4.3 B0.3 F5.3 B1.3 F6.3 B2.3 F7.3 B3.3 "
                              "F4.7 B4.7 F5.7 B5.7 F6.7 B6.7 F7.7 B7.7 B4.3 B5.3 B6.3 B7.3");
}

TEST_CASE("interleaved: the first group takes the remainder (S=2, V=2, N=3)") {
  Program P = uniformProgram(proto::INTERLEAVED, 2, 3, 2);
  runPasses(P, InterleavedPipeline);
  CHECK(computeOrder(P, 0) == "F0.0 F1.0 F2.0 F0.2 F1.2 F2.2 B0.2 B1.2 B2.2 B0.0 B1.0 B2.0");
}

TEST_CASE("interleaved: V=1 is 1F1B") {
  for (int32_t S : {1, 2, 4, 8})
    for (int32_t N : {1, 3, 4, 8, 13}) {
      CAPTURE(S);
      CAPTURE(N);
      Program I = uniformProgram(proto::INTERLEAVED, S, N, 1);
      runPasses(I, InterleavedPipeline);
      Program O = uniformProgram(proto::ONE_F_ONE_B, S, N, 1);
      runPasses(O, "schedule-1f1b,insert-comm,dp-sync,simulate,memory,verify");
      for (int32_t D = 0; D < S; ++D)
        CHECK(computeOrder(I, D) == computeOrder(O, D));
      CHECK(I.Time.StepTimeMs == doctest::Approx(O.Time.StepTimeMs));
    }
}

TEST_CASE("interleaved: peak in-flight min(2(S-s-1)+(V-1)G0+1, VN), 1F1B's min(S-s, N) at V=1") {
  for (int32_t S : {2, 4, 8})
    for (int32_t V : {1, 2, 4})
      for (int32_t N : {1, S - 1, S, S + 1, 2 * S, 3 * S}) {
        CAPTURE(S);
        CAPTURE(V);
        CAPTURE(N);
        Program P = uniformProgram(proto::INTERLEAVED, S, N, V);
        runPasses(P, InterleavedPipeline);
        for (int32_t D = 0; D < S; ++D) {
          CAPTURE(D);
          int32_t Expected =
              V == 1 ? std::min(S - D, N)
                     : std::min(2 * (S - D - 1) + (V - 1) * firstGroup(S, N) + 1, V * N);
          CHECK(P.Stats[D].PeakInflight == Expected);
          // uniformProgram saves 1 byte per chunk and micro-batch.
          CHECK(P.Stats[D].PeakMemory == Expected);
        }
      }
}

TEST_CASE("interleaved and Chimera: each (stage, micro-batch) F and B exactly once") {
  for (int32_t S : {2, 4, 6})
    for (int32_t N : {S, 2 * S, 3 * S + 1}) {
      CAPTURE(S);
      CAPTURE(N);
      Program I = uniformProgram(proto::INTERLEAVED, S, N, 3);
      runPasses(I, InterleavedPipeline);
      auto Count = computeCounts(I);
      CHECK(Count.size() == size_t(2) * 3 * S * N);
      for (const auto &[Key, C] : Count)
        CHECK(C == 1);
      if (N % S != 0)
        continue;
      Program C = uniformProgram(proto::CHIMERA, S, N);
      runPasses(C, ChimeraPipeline);
      auto CC = computeCounts(C);
      // Two pipelines of S stages, N/2 micro-batches each.
      CHECK(CC.size() == size_t(2) * 2 * S * (N / 2));
      for (const auto &[Key, Cnt] : CC) {
        auto [Bwd, Stage, Mb] = Key;
        CHECK(Cnt == 1);
        // Unit k: the down pipeline runs kS..kS+S/2-1, the up one the rest.
        CHECK((Mb % S < S / 2) == (C.Stages[Stage].Pipeline == 0));
      }
    }
}

TEST_CASE("Chimera: the paper's bubble (S-2)/(2N+S-2), step (2N+S-2)F with F = B") {
  // Li & Hoefler, SC'21, Table 2: Chimera's bubble ratio (D-2)/(2N+D-2) for
  // D stages and N micro-batches per worker, forward and backward of equal
  // cost; direct concatenation keeps it for every N = K*D.
  for (int32_t S : {2, 4, 6, 8})
    for (int32_t K : {1, 2, 3, 4}) {
      const int32_t N = K * S;
      CAPTURE(S);
      CAPTURE(N);
      Program P = uniformProgram(proto::CHIMERA, S, N, 1, 1.0, 1.0);
      runPasses(P, ChimeraPipeline);
      CHECK(P.Time.StepTimeMs == doctest::Approx(2 * N + S - 2));
      CHECK(P.Time.BubbleFraction == doctest::Approx(double(S - 2) / (2 * N + S - 2)));
      for (int32_t D = 0; D < S; ++D)
        CHECK(P.Stats[D].BusyMs == doctest::Approx(2.0 * N));
    }
}

TEST_CASE("Chimera: per-device order for S=4, N=4 (the paper's basic unit)") {
  // Down pipeline: micro-batches 0 and 1, stage p on device p; up pipeline:
  // 2 and 3, stage p on device 3-p. Suffix: the stage's position.
  Program P = uniformProgram(proto::CHIMERA, 4, 4, 1, 1.0, 1.0);
  runPasses(P, ChimeraPipeline);
  CHECK(computeOrder(P, 0) == "F0.0 F1.0 F2.3 B2.3 F3.3 B3.3 B0.0 B1.0");
  CHECK(computeOrder(P, 1) == "F0.1 F2.2 F1.1 F3.2 B2.2 B0.1 B3.2 B1.1");
  CHECK(computeOrder(P, 2) == "F2.1 F0.2 F3.1 F1.2 B0.2 B2.1 B1.2 B3.1");
  CHECK(computeOrder(P, 3) == "F2.0 F3.0 F0.3 B0.3 F1.3 B1.3 B2.0 B3.0");
}

TEST_CASE("Chimera: direct concatenation of two units (S=4, N=8)") {
  // Unit 1's first forwards interleave with unit 0's last backwards.
  Program P = uniformProgram(proto::CHIMERA, 4, 8, 1, 1.0, 1.0);
  runPasses(P, ChimeraPipeline);
  CHECK(computeOrder(P, 0) == "F0.0 F1.0 F2.3 B2.3 F3.3 B3.3 B0.0 F4.0 B1.0 F5.0 "
                              "F6.3 B6.3 F7.3 B7.3 B4.0 B5.0");
  CHECK(computeOrder(P, 1) == "F0.1 F2.2 F1.1 F3.2 B2.2 B0.1 B3.2 B1.1 F4.1 F6.2 "
                              "F5.1 F7.2 B6.2 B4.1 B7.2 B5.1");
}

TEST_CASE("Chimera: peak in-flight S/2+1+min(d, S-1-d)") {
  // The paper's activation range: S/2+1 micro-batches on the outer devices,
  // S on the middle ones.
  for (int32_t S : {2, 4, 8})
    for (int32_t K : {1, 3}) {
      CAPTURE(S);
      CAPTURE(K);
      Program P = uniformProgram(proto::CHIMERA, S, K * S);
      runPasses(P, ChimeraPipeline);
      for (int32_t D = 0; D < S; ++D)
        CHECK(P.Stats[D].PeakInflight == S / 2 + 1 + std::min(D, S - 1 - D));
    }
}

TEST_CASE("Chimera and interleaved: user errors") {
  Program Odd = uniformProgram(proto::CHIMERA, 3, 6);
  CHECK(pipelineError(Odd, ChimeraPipeline) ==
        "pfc: error: the chimera schedule needs an even number of stages (its two pipelines "
        "would collide otherwise), got --stages 3; use --stages 2 or 4");
  Program Uneven = uniformProgram(proto::CHIMERA, 4, 6);
  CHECK(pipelineError(Uneven, ChimeraPipeline) ==
        "pfc: error: the chimera schedule needs --microbatches to be a multiple of --stages 4 "
        "(a basic unit is 4 micro-batches, 2 per direction), got 6; use --microbatches 4 or 8");
  Program Few = uniformProgram(proto::CHIMERA, 4, 3);
  CHECK(pipelineError(Few, ChimeraPipeline).find("got 3; use --microbatches 4") != std::string::npos);
  Program OnePipe = uniformProgram(proto::ONE_F_ONE_B, 4, 4);
  CHECK(pipelineError(OnePipe, ChimeraPipeline).find("needs two pipelines") != std::string::npos);
  Program TwoPipes = uniformProgram(proto::CHIMERA, 4, 4);
  CHECK(pipelineError(TwoPipes, InterleavedPipeline).find("needs one pipeline of 4 stages") !=
        std::string::npos);
  Program Virtual = uniformProgram(proto::CHIMERA, 4, 4, 2);
  CHECK(pipelineError(Virtual, ChimeraPipeline).find("--virtual-stages 2 is not supported") !=
        std::string::npos);
}
