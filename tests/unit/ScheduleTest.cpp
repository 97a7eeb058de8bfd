//===- ScheduleTest.cpp - closed forms of the standard schedules -----------===//
//
// With equal stage costs and free communication the schedules have known
// step times, bubbles and activation counts; these tests check the simulator
// and generators against them.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <doctest/doctest.h>

using namespace pfc;
using namespace pfc::test;

namespace {
const char *Pipeline(proto::Schedule S) {
  switch (S) {
  case proto::GPIPE: return "schedule-gpipe,insert-comm,dp-sync,simulate,memory,verify";
  default: return "schedule-1f1b,insert-comm,dp-sync,simulate,memory,verify";
  }
}
} // namespace

TEST_CASE("GPipe and 1F1B: bubble (S-1)/(N+S-1), step (N+S-1)(F+B)") {
  for (proto::Schedule Sched : {proto::GPIPE, proto::ONE_F_ONE_B})
    for (int32_t S : {1, 2, 4, 8})
      for (int32_t N : {1, 3, 4, 8, 16}) {
        CAPTURE(Sched);
        CAPTURE(S);
        CAPTURE(N);
        Program P = uniformProgram(Sched, S, N, 1, 1.0, 2.0);
        runPasses(P, Pipeline(Sched));
        CHECK(P.Time.StepTimeMs == doctest::Approx((N + S - 1) * 3.0));
        CHECK(P.Time.BubbleFraction == doctest::Approx(double(S - 1) / (N + S - 1)));
        for (int32_t D = 0; D < S; ++D)
          CHECK(P.Stats[D].BusyMs == doctest::Approx(3.0 * N));
      }
}

TEST_CASE("in-flight activations: S-s for 1F1B, N for GPipe") {
  const int32_t S = 4, N = 8;
  Program G = uniformProgram(proto::GPIPE, S, N);
  runPasses(G, Pipeline(proto::GPIPE));
  Program O = uniformProgram(proto::ONE_F_ONE_B, S, N);
  runPasses(O, Pipeline(proto::ONE_F_ONE_B));
  for (int32_t D = 0; D < S; ++D) {
    CHECK(G.Stats[D].PeakInflight == N);
    CHECK(O.Stats[D].PeakInflight == S - D);
    // Each stage saves 1 byte per micro-batch in uniformProgram.
    CHECK(O.Stats[D].PeakMemory == S - D);
  }
}

TEST_CASE("1F1B order on the first and last stage") {
  Program P = uniformProgram(proto::ONE_F_ONE_B, 4, 6);
  runPasses(P, Pipeline(proto::ONE_F_ONE_B));
  CHECK(computeOrder(P, 0) == "F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5");
  CHECK(computeOrder(P, 3) == "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5");
}
