//===- LayeredZeroTest.cpp - layered schedule and ZeRO sharding ------------===//
//
// The layered (breadth-first) schedule on a looping placement against its
// closed forms with equal stage costs and free communication (Lamy-Poirier
// 2021): bubble (P-1)/(VN+P-1) for N >= P, V*N activation sets per device;
// and ZeRO (Rajbhandari et al. 2020): the per-device memory formulas, one
// weight gather per stage and phase under ZeRO-3 with the layered order
// whatever N, and data-parallel traffic independent of N.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "passes/PassManager.h"
#include "passes/Zero.h"

#include <doctest/doctest.h>

#include <map>
#include <tuple>

using namespace pfc;
using namespace pfc::test;

namespace {
const char *Layered = "schedule-layered,insert-comm,dp-sync,simulate,memory,verify";
const char *LayeredZero = "schedule-layered,insert-comm,zero-sync,simulate,memory,verify";
const char *InterleavedZero = "schedule-interleaved,insert-comm,zero-sync,simulate,memory,verify";



/// uniformProgram with D replicas, ZeRO stage \p Zero and \p ParamBytes per stage.
Program zeroProgram(proto::Schedule Schedule, int32_t S, int32_t N, int32_t V, int32_t D,
                    int32_t Zero, int64_t ParamBytes = 1000) {
  Program P = uniformProgram(Schedule, S, N, V);
  P.Options.set_data_parallel(D);
  P.Options.set_zero(Zero);
  for (Stage &St : P.Stages)
    St.ParamBytes = ParamBytes;
  return P;
}

int count(const Program &P, TaskKind K) {
  int C = 0;
  for (const Task &T : P.Tasks)
    C += T.Kind == K;
  return C;
}

/// Bytes one device sends per step in data-parallel collectives (ring: each
/// rank sends (n-1)/n of the tensor per reduce-scatter or all-gather).
double collectiveBytes(const Program &P, int32_t Ranks) {
  double Sum = 0;
  for (const Task &T : P.Tasks)
    if (T.Kind == proto::REDUCE_SCATTER || T.Kind == proto::ALL_GATHER)
      Sum += double(T.Bytes) * (Ranks - 1) / Ranks;
    else if (T.Kind == proto::ALL_REDUCE)
      Sum += 2.0 * double(T.Bytes) * (Ranks - 1) / Ranks;
  return Sum;
}
} // namespace

TEST_CASE("layered: bubble (P-1)/(VN+P-1), step (VN+P-1)(F+B) for N >= P") {
  for (auto [F, B] : {std::pair{1.0, 2.0}, {1.0, 1.0}})
    for (int32_t S : {1, 2, 4, 8})
      for (int32_t V : {1, 2, 3, 4})
        for (int32_t N : {S, S + 1, 2 * S, 3 * S}) {
          CAPTURE(S);
          CAPTURE(V);
          CAPTURE(N);
          Program P = uniformProgram(proto::LAYERED, S, N, V, F, B);
          runPasses(P, Layered);
          CHECK(P.Time.StepTimeMs == doctest::Approx((V * N + S - 1) * (F + B)));
          CHECK(P.Time.BubbleFraction == doctest::Approx(double(S - 1) / (V * N + S - 1)));
        }
}

TEST_CASE("layered: order of S=2, V=2, N=3 and every F and B once") {
  Program P = uniformProgram(proto::LAYERED, 2, 3, 2);
  runPasses(P, Layered);
  CHECK(computeOrder(P, 0) == "F0.0 F1.0 F2.0 F0.2 F1.2 F2.2 B0.2 B1.2 B2.2 B0.0 B1.0 B2.0");
  CHECK(computeOrder(P, 1) == "F0.1 F1.1 F2.1 F0.3 F1.3 F2.3 B0.3 B1.3 B2.3 B0.1 B1.1 B2.1");
  for (int32_t S : {2, 4})
    for (int32_t N : {1, S - 1, S, 2 * S + 1}) {
      Program Q = uniformProgram(proto::LAYERED, S, N, 3);
      runPasses(Q, Layered); // verify: F/B once, sends matched, no deadlock
      std::map<std::tuple<bool, int32_t, int32_t>, int> Count;
      for (const Task &T : Q.Tasks)
        if (T.Kind == proto::FORWARD || T.Kind == proto::BACKWARD)
          ++Count[{T.Kind == proto::BACKWARD, T.Stage, T.Microbatch}];
      CHECK(Count.size() == size_t(2) * 3 * S * N);
      for (const auto &[Key, C] : Count)
        CHECK(C == 1);
    }
}

TEST_CASE("layered: V*N activation sets per device, depth-first looping keeps fewer") {
  for (int32_t S : {2, 4, 8})
    for (int32_t V : {2, 4})
      for (int32_t N : {S, 2 * S, 4 * S}) {
        CAPTURE(S);
        CAPTURE(V);
        CAPTURE(N);
        Program L = uniformProgram(proto::LAYERED, S, N, V);
        runPasses(L, Layered);
        Program I = uniformProgram(proto::INTERLEAVED, S, N, V);
        runPasses(I, "schedule-interleaved,insert-comm,dp-sync,simulate,memory,verify");
        const int32_t G0 = S + N % S;
        for (int32_t D = 0; D < S; ++D) {
          CHECK(L.Stats[D].PeakInflight == V * N);
          CHECK(I.Stats[D].PeakInflight ==
                std::min(2 * (S - D - 1) + (V - 1) * G0 + 1, V * N));
          CHECK(I.Stats[D].PeakInflight <= L.Stats[D].PeakInflight);
        }
      }
}

TEST_CASE("ZeRO memory: Rajbhandari et al.'s formulas, Psi = 7.5e9, K = 12, N_d = 64") {
  // Their Figure 1: 7.5B parameters on 64 GPUs -> 120 GB, 31.4 GB, 16.6 GB,
  // 1.9 GB per device (baseline, P_os, P_os+g, P_os+g+p).
  const int64_t Psi = 7'500'000'000, K = 12;
  const int32_t Nd = 64;
  CHECK(zeroStaticBytes(Psi, 2, K, 0, Nd).total() == (2 + 2 + K) * Psi);
  CHECK(zeroStaticBytes(Psi, 2, K, 1, Nd).total() == 2 * Psi + 2 * Psi + K * Psi / Nd);
  CHECK(zeroStaticBytes(Psi, 2, K, 2, Nd).total() == 2 * Psi + (2 + K) * Psi / Nd);
  CHECK(zeroStaticBytes(Psi, 2, K, 3, Nd).total() == (2 + 2 + K) * Psi / Nd);
  CHECK(zeroStaticBytes(Psi, 2, K, 0, Nd).total() == 120'000'000'000);
  CHECK(zeroStaticBytes(Psi, 2, K, 1, Nd).total() == 31'406'250'000);
  CHECK(zeroStaticBytes(Psi, 2, K, 2, Nd).total() == 16'640'625'000);
  CHECK(zeroStaticBytes(Psi, 2, K, 3, Nd).total() == 1'875'000'000);
}

TEST_CASE("ZeRO memory: the memory pass charges each device its shard") {
  // uniformProgram: no model, so fp16 (E = 2, K = 12). Each stage 1000 bytes
  // = 500 parameters; a device of S=2, V=2 holds 2 stages, 1000 parameters.
  const int64_t Psi = 1000;
  const int32_t Nd = 4;
  const int64_t Expected[] = {16 * Psi, 4 * Psi + 12 * Psi / Nd, 2 * Psi + 14 * Psi / Nd,
                              16 * Psi / Nd};
  for (int32_t Zero = 0; Zero <= 3; ++Zero) {
    CAPTURE(Zero);
    Program P = zeroProgram(proto::LAYERED, 2, 4, 2, Nd, Zero);
    runPasses(P, Zero == 0 ? Layered : LayeredZero);
    for (int32_t D = 0; D < 2; ++D)
      CHECK(P.Stats[D].StaticMemory == Expected[Zero]);
  }
}

TEST_CASE("ZeRO-3, layered: one weight gather per stage per phase, whatever N") {
  // Device d holds V stages; each is gathered before its forward run and
  // before its backward run, except the last one, whose two runs touch.
  for (int32_t S : {2, 4})
    for (int32_t V : {1, 2, 4})
      for (int32_t N : {S, 2 * S, 8 * S}) {
        CAPTURE(S);
        CAPTURE(V);
        CAPTURE(N);
        Program P = zeroProgram(proto::LAYERED, S, N, V, 2, 3);
        runPasses(P, LayeredZero);
        CHECK(count(P, proto::ALL_GATHER) == S * (2 * V - 1));
        CHECK(count(P, proto::REDUCE_SCATTER) == S * V);
        CHECK(count(P, proto::ALL_REDUCE) == 0);
        for (int32_t D = 0; D < S; ++D) {
          std::map<int32_t, int> PerStage;
          for (TaskId T : P.stream(D, proto::COLLECTIVE))
            if (P.Tasks[T].Kind == proto::ALL_GATHER)
              ++PerStage[P.Tasks[T].Stage];
          CHECK(PerStage.size() == size_t(V));
          for (auto [Stage, C] : PerStage)
            CHECK(C == (P.Stages[Stage].Position / S == V - 1 ? 1 : 2));
        }
      }
}

TEST_CASE("ZeRO-3: depth-first looping gathers grow with N, layered ones do not") {
  const int32_t S = 4, V = 2;
  int Prev = 0;
  for (int32_t N : {S, 2 * S, 4 * S}) {
    CAPTURE(N);
    Program I = zeroProgram(proto::INTERLEAVED, S, N, V, 2, 3);
    runPasses(I, InterleavedZero);
    Program L = zeroProgram(proto::LAYERED, S, N, V, 2, 3);
    runPasses(L, LayeredZero);
    CHECK(count(I, proto::ALL_GATHER) > Prev);
    Prev = count(I, proto::ALL_GATHER);
    CHECK(count(L, proto::ALL_GATHER) == S * (2 * V - 1));
    // One group (N = S) is layered order already; more groups mean more runs.
    if (N > S)
      CHECK(count(I, proto::ALL_GATHER) > count(L, proto::ALL_GATHER));
  }
}

TEST_CASE("ZeRO: data-parallel bytes per step independent of N for the layered order") {
  for (int32_t Zero = 0; Zero <= 3; ++Zero) {
    CAPTURE(Zero);
    double First = -1;
    for (int32_t N : {4, 8, 32}) {
      Program P = zeroProgram(proto::LAYERED, 4, N, 2, 8, Zero);
      runPasses(P, Zero == 0 ? Layered : LayeredZero);
      double Bytes = collectiveBytes(P, 8);
      if (First < 0)
        First = Bytes;
      CHECK(Bytes == doctest::Approx(First));
    }
    // Per device (2 stages of 1000 bytes), ring over 8 ranks: ZeRO-0/1/2 move
    // 2 x 7/8 of the gradients (all-reduce, or reduce-scatter + all-gather);
    // ZeRO-3 adds the second gather of the first stage: 3 gathers + 2 scatters.
    double PerDevice = 2000.0 * 7 / 8;
    double Expected = Zero == 3 ? 4 * (3 * 1000.0 * 7 / 8 + PerDevice) : 4 * 2 * PerDevice;
    CHECK(First == doctest::Approx(Expected));
  }
}

TEST_CASE("ZeRO: collectives start as early as their data allow") {
  // Free communication: a stage's reduce-scatter starts when its last
  // backward ends; ZeRO-3's first gather at time 0.
  Program P = zeroProgram(proto::LAYERED, 2, 4, 2, 2, 3);
  runPasses(P, LayeredZero);
  for (TaskId T = 0; T < P.numTasks(); ++T) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Kind != proto::REDUCE_SCATTER)
      continue;
    double LastB = 0;
    for (TaskId U = 0; U < P.numTasks(); ++U)
      if (P.Tasks[U].Kind == proto::BACKWARD && P.Tasks[U].Stage == Tk.Stage)
        LastB = std::max(LastB, P.Time.End[U]);
    CHECK(P.Time.Start[T] == doctest::Approx(LastB));
  }
  CHECK(P.Time.Start[P.stream(0, proto::COLLECTIVE)[0]] == 0);
}

TEST_CASE("layered and ZeRO: user errors") {
  Program P = uniformProgram(proto::LAYERED, 4, 4, 2);
  P.Model.set_num_layers(12);
  CHECK(pipelineError(P, Layered) ==
        "pfc: error: the layered schedule needs the model's 12 blocks to split evenly into "
        "--stages 4 x --virtual-stages 2 = 8 stages; use --virtual-stages 1, 3");
  Program Two = uniformProgram(proto::CHIMERA, 4, 4);
  CHECK(pipelineError(Two, Layered).find("schedule-layered needs one pipeline of 4 stages") !=
        std::string::npos);
  Program NoDp = zeroProgram(proto::LAYERED, 2, 2, 1, 1, 2);
  CHECK(pipelineError(NoDp, LayeredZero) ==
        "pfc: error: --zero 2 shards across data-parallel replicas; give --data-parallel 2 or "
        "more, or --zero 0");
  Program NoZero = zeroProgram(proto::LAYERED, 2, 2, 1, 2, 0);
  CHECK(pipelineError(NoZero, LayeredZero).find("zero-sync needs --zero 1, 2 or 3") !=
        std::string::npos);
}
