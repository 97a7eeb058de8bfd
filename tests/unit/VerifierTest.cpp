//===- VerifierTest.cpp - every invariant of the verifier, broken ----------===//
//
// Valid GPipe, 1F1B and Chimera programs pass the verifier after every pass.
// Then each invariant of ir/Verifier.cpp is broken on purpose in an
// otherwise valid program and the exact message is checked, so that a check
// that stops firing, or fires on the wrong task, fails here. Ids come from
// the schedule builder (tasks numbered in device order, then insert-comm's
// send/recv pairs, then dp-sync's tasks) and are looked up, not assumed.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "ir/Verifier.h"
#include "passes/ScheduleBuilder.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <tuple>
#include <utility>

using namespace pfc;
using namespace pfc::test;

namespace {

std::string verify(const Program &P, VerifyOptions Opts = {},
                   std::vector<std::string> *Warnings = nullptr) {
  return errorText(verifyProgram(P, Opts, Warnings));
}

Program build(proto::Schedule Sched, int32_t S, int32_t N, const std::string &Passes) {
  Program P = uniformProgram(Sched, S, N);
  runPasses(P, Passes);
  return P;
}

/// The lowest task of this kind, stage and micro-batch.
TaskId find(const Program &P, TaskKind K, int32_t Stage, int32_t Mb) {
  for (TaskId T = 0; T < P.numTasks(); ++T)
    if (P.Tasks[T].Kind == K && P.Tasks[T].Stage == Stage && P.Tasks[T].Microbatch == Mb)
      return T;
  FAIL("no such task");
  return NoTask;
}

void dropEdge(Program &P, TaskId From, TaskId To) {
  auto It = std::find(P.Edges.begin(), P.Edges.end(), std::pair(From, To));
  REQUIRE(It != P.Edges.end());
  P.Edges.erase(It);
}

std::string error(const std::string &Invariant, const std::string &Details) {
  return "pfc: error: verify: " + Invariant + ": " + Details;
}

/// 1F1B, S = 2, N = 2, free communication: device 0 runs F(0,0)=0 F(0,1)=1
/// B(0,0)=2 B(0,1)=3, device 1 F(1,0)=4 B(1,0)=5 F(1,1)=6 B(1,1)=7.
const char *Full = "schedule-1f1b,insert-comm,dp-sync,simulate,memory";

} // namespace

TEST_CASE("verify: valid GPipe and 1F1B plans pass after every pass") {
  for (proto::Schedule Sched : {proto::GPIPE, proto::ONE_F_ONE_B})
    for (int32_t S : {1, 2, 4})
      for (int32_t N : {1, 3, 8}) {
        CAPTURE(Sched);
        CAPTURE(S);
        CAPTURE(N);
        Program P = uniformProgram(Sched, S, N);
        CHECK(verify(P) == ""); // partitioned: no tasks yet
        runPasses(P, Sched == proto::GPIPE ? "schedule-gpipe" : "schedule-1f1b");
        CHECK(verify(P) == ""); // cross-device edges still direct
        for (const char *Pass : {"insert-comm", "dp-sync", "simulate", "memory", "verify"}) {
          runPasses(P, Pass);
          CHECK(verify(P) == "");
        }
        CHECK(P.Warnings.empty());
      }
}

TEST_CASE("verify: Chimera, each micro-batch through one of two pipelines") {
  // Stages 0, 1 (pipeline 0) on devices 0, 1; stages 2, 3 (pipeline 1) on
  // devices 1, 0. Micro-batch 0 takes pipeline 0, micro-batch 1 pipeline 1.
  Program P = uniformProgram(proto::CHIMERA, 2, 2);
  materializeSchedule(P, {{{false, 0, 0}, {false, 3, 1}, {true, 3, 1}, {true, 0, 0}},
                          {{false, 2, 1}, {false, 1, 0}, {true, 1, 0}, {true, 2, 1}}});
  CHECK(verify(P) == "");
  Program Q = P;
  runPasses(Q, "insert-comm,dp-sync,simulate,memory");
  CHECK(verify(Q) == "");

  P.Tasks[4].Microbatch = 0; // F(2, 1) now in micro-batch 0
  CHECK(verify(P) ==
        error("pipeline coverage",
              "micro-batch 0 runs through pipelines 0 and 1: task 0 (F stage 0 micro-batch 0 on "
              "device 0) and task 4 (F stage 2 micro-batch 0 on device 1)"));
}

TEST_CASE("verify: structure") {
  Program P = build(proto::ONE_F_ONE_B, 2, 2, Full);
  const int32_t N = P.numTasks();
  {
    Program Q = P;
    Q.Tasks[0].Stream = proto::SEND;
    CHECK(verify(Q) == error("structure", "task 0 (F stage 0 micro-batch 0 on device 0) is on "
                                          "the send stream; a F runs on the compute stream"));
  }
  {
    Program Q = P;
    auto &S = Q.stream(0, proto::COMPUTE);
    S.erase(std::find(S.begin(), S.end(), 1));
    CHECK(verify(Q) ==
          error("structure", "task 1 (F stage 0 micro-batch 1 on device 0) is in no stream"));
    Q.stream(1, proto::COMPUTE).push_back(1);
    CHECK(verify(Q) == error("structure",
                             "the compute stream of device 1 lists task 1 (F stage 0 micro-batch "
                             "1 on device 0), which runs on the compute stream of device 0"));
  }
  {
    Program Q = P;
    Q.stream(0, proto::COMPUTE).push_back(2);
    CHECK(verify(Q) == error("structure", "the compute stream of device 0 lists task 2 (B stage "
                                          "0 micro-batch 0 on device 0) twice"));
  }
  {
    Program Q = P;
    Q.Tasks[0].CycleStep = 1;
    CHECK(verify(Q) == error("structure", "task 0 (F stage 0 micro-batch 0 on device 0) has cycle "
                                          "step 1 and data lag 0; per-step tasks have 0 and 0"));
  }
  {
    Program Q = P;
    Q.Tasks[4].Device = 0;
    CHECK(verify(Q) == error("structure", "task 4 (F stage 1 micro-batch 0 on device 0) is not "
                                          "on device 1 of its stage"));
  }
  {
    Program Q = P;
    Q.addEdge(3, N + 2);
    CHECK(verify(Q) ==
          error("structure", fmt::format("dependency edge 3 -> {} does not join two tasks in "
                                         "[0, {})",
                                         N + 2, N)));
  }
  {
    Program Q = P;
    Q.Time.End.pop_back();
    CHECK(verify(Q) == error("structure", fmt::format("simulated, but {} start and {} end times "
                                                      "for {} tasks",
                                                      N, N - 1, N)));
  }
}

TEST_CASE("verify: pipeline coverage") {
  Program P = build(proto::ONE_F_ONE_B, 2, 2, "schedule-1f1b");
  {
    Program Q = P;
    Q.addTask(Q.Tasks[1]); // a second F(0, 1), in the stream, with no edges
    CHECK(verify(Q) == error("pipeline coverage",
                             "task 8 (F stage 0 micro-batch 1 on device 0) duplicates "
                             "task 1: a stage runs one F of each micro-batch"));
  }
  {
    Program Q = P;
    Q.Tasks[7].Kind = proto::OPTIMIZER_STEP; // B(1, 1) gone
    CHECK(verify(Q) == error("pipeline coverage", "micro-batch 1 has no B on stage 1 (position 1 "
                                                  "of pipeline 0, device 1)"));
  }
  {
    Program Q = P;
    Q.Options.set_microbatches(1);
    CHECK(verify(Q) == error("pipeline coverage",
                             "task 1 (F stage 0 micro-batch 1 on device 0) has a "
                             "micro-batch outside [0, 1) (options.microbatches)"));
    Q.Options.set_microbatches(3);
    CHECK(verify(Q) == error("pipeline coverage",
                             "micro-batch 2 of 3 runs through no pipeline: it has no F or B"));
    // Far more micro-batches than tasks: no table sized by them.
    Q.Options.set_microbatches(1 << 30);
    CHECK(verify(Q) == error("pipeline coverage", "micro-batch 2 of 1073741824 has 0 F and B "
                                                  "tasks; the shortest pipeline needs 4"));
  }
}

TEST_CASE("verify: data dependencies, direct or through a send/recv pair") {
  {
    Program P = build(proto::ONE_F_ONE_B, 2, 2, "schedule-1f1b");
    dropEdge(P, 1, 6);
    CHECK(verify(P) ==
          error("data dependency",
                "task 6 (F stage 1 micro-batch 1 on device 1) does not depend on task 1 (F stage "
                "0 micro-batch 1 on device 0), directly or through a send-act -> recv-act pair"));
  }
  Program P = build(proto::ONE_F_ONE_B, 2, 2, Full);
  {
    Program Q = P;
    TaskId Recv = find(Q, proto::RECV_GRADIENT, 0, 0);
    dropEdge(Q, Recv, 2);
    CHECK(verify(Q) ==
          error("data dependency",
                "task 2 (B stage 0 micro-batch 0 on device 0) does not depend on task 5 (B stage "
                "1 micro-batch 0 on device 1), directly or through a send-grad -> recv-grad "
                "pair"));
  }
  {
    Program Q = P;
    dropEdge(Q, 4, 5);
    CHECK(verify(Q) ==
          error("data dependency",
                "task 5 (B stage 1 micro-batch 0 on device 1) does not depend on task 4 (F stage "
                "1 micro-batch 0 on device 1), directly or through a send-act -> recv-act pair"));
  }
}

TEST_CASE("verify: sends matched by receives") {
  Program P = build(proto::ONE_F_ONE_B, 2, 2, Full);
  const TaskId Send = find(P, proto::SEND_ACTIVATION, 0, 0);
  const TaskId Recv = P.Tasks[Send].Peer;
  const TaskId Other = find(P, proto::SEND_ACTIVATION, 0, 1);
  REQUIRE(Recv == Send + 1);
  const std::string S = fmt::format("task {} (send-act stage 0 micro-batch 0 on device 0)", Send);
  const std::string R = fmt::format("task {} (recv-act stage 1 micro-batch 0 on device 1)", Recv);
  {
    Program Q = P;
    Q.Tasks[Send].Peer = NoTask;
    CHECK(verify(Q) == error("send/recv", S + " has no peer recv-act"));
  }
  {
    Program Q = P;
    Q.Tasks[Recv].Peer = Other;
    CHECK(verify(Q) == error("send/recv", fmt::format("the peer of {} is {}, whose peer is task {}",
                                                      S, R, Other)));
  }
  {
    Program Q = P;
    Q.Tasks[Recv].Kind = proto::RECV_GRADIENT;
    CHECK(verify(Q) ==
          error("send/recv",
                fmt::format("the peer of {} is task {} (recv-grad stage 1 micro-batch 0 on "
                            "device 1), not a recv-act",
                            S, Recv)));
  }
  {
    Program Q = P;
    Q.Tasks[Recv].Bytes += 1;
    CHECK(verify(Q) ==
          error("send/recv", fmt::format("{} moves {} bytes, its peer {} {}", S,
                                         P.Tasks[Send].Bytes, R, P.Tasks[Send].Bytes + 1)));
  }
  {
    Program Q = P;
    dropEdge(Q, Send, Recv);
    CHECK(verify(Q) == error("send/recv", R + " does not depend on its peer " + S));
  }
  {
    Program Q = P;
    Q.Tasks[0].Peer = 5;
    CHECK(verify(Q) == error("send/recv", "task 0 (F stage 0 micro-batch 0 on device 0) has peer "
                                          "task 5; only sends and receives have a peer"));
  }
  {
    Program Q = P;
    Q.addEdge(0, 4); // direct, though insert-comm has run
    CHECK(verify(Q) == error("send/recv",
                             "the dependency task 0 (F stage 0 micro-batch 0 on device 0) -> task "
                             "4 (F stage 1 micro-batch 0 on device 1) crosses devices; once sends "
                             "and receives exist, only a send -> its receive may"));
  }
}

TEST_CASE("verify: devices run the collectives they share in one order") {
  // Chimera, 4 devices: device 0 holds stage 0 of the down pipeline and the
  // up pipeline's copy of stage 3 (device 3 the reverse), so both run the
  // gradient all-reduces of layers [0, 1) and [3, 4), which must meet.
  Program P = build(proto::CHIMERA, 4, 4, "schedule-chimera,insert-comm,dp-sync");
  CHECK(verify(P) == "");
  auto &Mine = P.stream(0, proto::COLLECTIVE);
  const auto &Theirs = P.stream(3, proto::COLLECTIVE);
  REQUIRE(Mine.size() == 2);
  REQUIRE(Theirs.size() == 2);
  auto Layers = [&](TaskId T) { return P.Stages[P.Tasks[T].Stage].LayerBegin; };
  CHECK(Layers(Mine[0]) == Layers(Theirs[0])); // one order on both
  CHECK(Layers(Mine[1]) == Layers(Theirs[1]));
  std::swap(Mine[0], Mine[1]);
  // Each device's order alone is fine (D1); only the rendezvous is stuck.
  CHECK(verify(P) ==
        error("deadlock", "the copies of a collective never meet: task 88 (all-reduce stage 0 "
                          "on device 0) is ready, but its copy task 92 (all-reduce stage 4 on "
                          "device 3) never is (it waits for task 80 (all-reduce stage 3 on "
                          "device 3)); devices must run the collectives they share in one "
                          "order"));
}

TEST_CASE("verify: deadlock names a cycle of dependencies and stream order") {
  Program P = build(proto::ONE_F_ONE_B, 2, 2, "schedule-1f1b");
  {
    Program Q = P;
    std::swap(Q.stream(0, proto::COMPUTE)[0], Q.stream(0, proto::COMPUTE)[2]); // B0 F1 F0 B1
    CHECK(verify(Q) ==
          error("deadlock",
                "dependencies (->) and stream order (=>) form a cycle: task 0 (F stage 0 "
                "micro-batch 0 on device 0) -> task 2 (B stage 0 micro-batch 0 on device 0) => "
                "task 1 (F stage 0 micro-batch 1 on device 0) => task 0; 8 tasks can never start"));
  }
  {
    // Device 0: F0 B0 F1 B1; device 1 starts with F1, which needs F(0,1),
    // which waits for B(0,0), which needs B(1,0), stuck behind F(1,1).
    Program Q = P;
    Q.stream(0, proto::COMPUTE) = {0, 2, 1, 3};
    Q.stream(1, proto::COMPUTE) = {6, 4, 5, 7};
    CHECK(verify(Q) ==
          error("deadlock",
                "dependencies (->) and stream order (=>) form a cycle: task 1 (F stage 0 "
                "micro-batch 1 on device 0) -> task 6 (F stage 1 micro-batch 1 on device 1) => "
                "task 4 (F stage 1 micro-batch 0 on device 1) -> task 5 (B stage 1 micro-batch 0 "
                "on device 1) -> task 2 (B stage 0 micro-batch 0 on device 0) => task 1; 7 tasks "
                "can never start"));
    Q.stream(0, proto::COMPUTE) = {0, 1, 2, 3};
    CHECK(verify(Q) == ""); // 1F1B's device 0 order with GPipe's on device 1
  }
}

TEST_CASE("verify: timing, one task at a time per stream") {
  Program P = build(proto::ONE_F_ONE_B, 2, 2, Full);
  REQUIRE(P.Time.StepTimeMs == doctest::Approx(9));
  {
    Program Q = P;
    Q.Time.Start[1] = 0.5;
    Q.Time.End[1] = 1.5;
    CHECK(verify(Q) ==
          error("timing", "task 0 (F stage 0 micro-batch 0 on device 0) and task 1 (F stage 0 "
                          "micro-batch 1 on device 0) overlap on the compute stream of device 0: "
                          "[0, 1) and [0.5, 1.5) ms"));
  }
  {
    Program Q = P;
    Q.Time.Start[4] = 0.5;
    Q.Time.End[4] = 1.5;
    TaskId Recv = find(Q, proto::RECV_ACTIVATION, 1, 0);
    CHECK(verify(Q) == error("timing", fmt::format("task 4 (F stage 1 micro-batch 0 on device 1) "
                                                   "starts at 0.5 ms, before its dependency task "
                                                   "{} (recv-act stage 1 micro-batch 0 on device "
                                                   "1) ends at 1 ms",
                                                   Recv)));
  }
  {
    Program Q = P;
    Q.Time.End[5] += 0.25;
    CHECK(verify(Q) == error("timing", "task 5 (B stage 1 micro-batch 0 on device 1) starts at 2 "
                                       "ms and lasts 2 ms, but ends at 4.25 ms"));
  }
  {
    Program Q = P;
    Q.Time.StepTimeMs = 5;
    CHECK(verify(Q) == error("timing", "task 2 (B stage 0 micro-batch 0 on device 0) ends at 6 "
                                       "ms, after the step time 5 ms"));
  }
  {
    Program Q = P; // within the tolerance
    Q.Time.Start[1] -= 1e-9;
    Q.Time.End[1] -= 1e-9;
    CHECK(verify(Q) == "");
  }
}

namespace {
/// GPipe, S = 2, N = 2, T = 9 ms. Device 0's compute stream is idle in
/// [2, 5) of every step, device 1's in [0, 1) and [7, 9). Adds a two-step
/// K-FAC cycle placed by hand: curvature A of F(0,0) at [11, 12) in step 1,
/// its inversion at [12, 13.5), and an inversion on device 1 at [7.5, 10)
/// that runs over the step boundary into device 1's idle [9, 10).
struct CycleProgram {
  Program P;
  TaskId Curv, Inv, Across;

  CycleProgram() : P(build(proto::GPIPE, 2, 2, "schedule-gpipe,insert-comm,dp-sync,simulate")) {
    REQUIRE(P.Time.StepTimeMs == doctest::Approx(9));
    P.Time.CycleSteps = 2;
    P.Kfac.set_present(true);
    P.Kfac.set_refresh_steps(2);
    // Two blocks: stage 0 holds the embedding and block 1, stage 1 block 2
    // and the head (the uniform program gives each stage one layer index).
    P.Model.set_num_layers(2);
    std::tie(P.Stages[0].LayerBegin, P.Stages[0].LayerEnd) = std::pair(0, 2);
    std::tie(P.Stages[1].LayerBegin, P.Stages[1].LayerEnd) = std::pair(2, 4);
    Curv = add(proto::CURVATURE_A, 0, 0, 1, 11, 1, {0});
    Inv = add(proto::INVERT_A, 0, -1, 1, 12, 1.5, {Curv});
    Across = add(proto::INVERT_B, 1, -1, 0, 7.5, 2.5, {});
  }
  TaskId add(TaskKind Kind, int32_t Stage, int32_t Mb, int32_t Step, double Start, double Ms,
             std::vector<TaskId> Deps) {
    Task T;
    T.Kind = Kind;
    T.Stream = defaultStream(Kind);
    T.Device = P.Stages[Stage].Device;
    T.Stage = Stage;
    T.Microbatch = Mb;
    T.Layer = Stage + 1;
    T.CycleStep = Step;
    T.DurationMs = Ms;
    TaskId Id = P.addTask(T);
    for (TaskId D : Deps)
      P.addEdge(D, Id);
    P.Time.Start.push_back(Start);
    P.Time.End.push_back(Start + Ms);
    return Id;
  }
  void move(TaskId T, double Start) {
    P.Time.Start[T] = Start;
    P.Time.End[T] = Start + P.Tasks[T].DurationMs;
  }
  std::string curv() const {
    return fmt::format("task {} (curv-A stage 0 layer 1 micro-batch 0 cycle step {} on device 0)",
                       Curv, P.Tasks[Curv].CycleStep);
  }
  std::string inv() const {
    return fmt::format("task {} (inv-A stage 0 layer 1 cycle step {} on device 0)", Inv,
                       P.Tasks[Inv].CycleStep);
  }
};
} // namespace

TEST_CASE("verify: the stages of a pipeline hold the model's layers in order") {
  {
    CycleProgram C; // stage 0 over more layers than the model has
    C.P.Stages[0].LayerEnd = 32768;
    CHECK(verify(C.P) == error("structure", "stage 0 (pipeline 0 position 0) holds layers [0, "
                                            "32768); a stage holds at least one of the model's "
                                            "4 layers (embedding, 2 blocks, head)"));
  }
  {
    CycleProgram C; // stage 1 overlaps stage 0
    C.P.Stages[1].LayerBegin = 1;
    CHECK(verify(C.P) == error("structure", "stage 1 (pipeline 0 position 1) holds layers [1, "
                                            "4); a stage holds at least one of the model's 4 "
                                            "layers (embedding, 2 blocks, head), from layer 2 "
                                            "on (where position 0 ends)"));
  }
  {
    CycleProgram C; // an empty stage
    C.P.Stages[1].LayerEnd = 2;
    CHECK(verify(C.P).find("holds layers [2, 2)") != std::string::npos);
  }
}

TEST_CASE("verify: K-FAC tasks name blocks of their stage") {
  {
    CycleProgram C; // stage 0 has block 1 only
    C.P.Tasks[C.Curv].LayerCount = 2;
    CHECK(verify(C.P) == error("structure", fmt::format("task {} (curv-A stage 0 layers 1-2 "
                                                        "micro-batch 0 cycle step 1 on device "
                                                        "0) works on blocks outside its "
                                                        "stage's blocks 1-1",
                                                        C.Curv)));
  }
  {
    CycleProgram C;
    C.P.Tasks[C.Across].Layer = 1; // stage 1 has block 2 only
    CHECK(verify(C.P) == error("structure", fmt::format("task {} (inv-B stage 1 layer 1 cycle "
                                                        "step 0 on device 1) works on blocks "
                                                        "outside its stage's blocks 2-2",
                                                        C.Across)));
  }
  {
    CycleProgram C; // an inversion is per block
    C.P.Model.set_num_layers(3); // stage 0: blocks 1-2, stage 1: block 3 and the head
    C.P.Stages[0].LayerEnd = 3;
    std::tie(C.P.Stages[1].LayerBegin, C.P.Stages[1].LayerEnd) = std::pair(3, 5);
    for (Task &Tk : C.P.Tasks)
      if (Tk.Stage == 1 && Tk.Layer >= 0)
        Tk.Layer = 3;
    C.P.Tasks[C.Inv].LayerCount = 2;
    CHECK(verify(C.P) ==
          error("structure", fmt::format("task {} (inv-A stage 0 layers 1-2 cycle step 1 on "
                                         "device 0) has piece 0 and layer count 2; pieces are "
                                         ">= 0 and only curvature tasks and factor all-reduces "
                                         "cover more than one block",
                                         C.Inv)));
    C.P.Tasks[C.Inv].LayerCount = 1;
    C.P.Tasks[C.Curv].LayerCount = 2; // blocks 1-2 are stage 0's now
    CHECK(verify(C.P) == "");
  }
}

TEST_CASE("verify: K-FAC cycle tasks in a k-step timeline") {
  CHECK(verify(CycleProgram().P) == "");
  {
    CycleProgram C; // F(0,0) ends at 1, so at 10 in step 1
    C.move(C.Curv, 9.5);
    CHECK(verify(C.P) == error("timing", C.curv() + " starts at 9.5 ms, before its dependency "
                                                    "task 0 (F stage 0 micro-batch 0 on device "
                                                    "0) ends at 10 ms (its instance in step 1)"));
  }
  {
    CycleProgram C;
    C.move(C.Inv, 11.5);
    CHECK(verify(C.P) == error("timing", C.inv() + " starts at 11.5 ms, before its dependency " +
                                             C.curv() + " ends at 12 ms"));
  }
  {
    CycleProgram C; // [7.5, 11) runs into F(1,0)'s step-1 instance at [10, 11)
    C.P.Tasks[C.Across].DurationMs = 3.5;
    C.move(C.Across, 7.5);
    CHECK(verify(C.P) ==
          error("timing", fmt::format("task 4 (F stage 1 micro-batch 0 on device 1) and task {} "
                                      "(inv-B stage 1 layer 2 cycle step 0 on device 1) overlap "
                                      "on the compute stream of device 1: [10, 11) and [7.5, 11) "
                                      "ms (task 4's instance in step 1)",
                                      C.Across)));
  }
  {
    CycleProgram C; // B(0,0)'s step-1 instance is [14, 16)
    C.move(C.Inv, 13);
    CHECK(verify(C.P) ==
          error("timing", "task 2 (B stage 0 micro-batch 0 on device 0) and " + C.inv() +
                              " overlap on the compute stream of device 0: [14, "
                              "16) and [13, 14.5) ms (task 2's instance in step "
                              "1)"));
  }
  {
    CycleProgram C;
    TaskId Extra = C.add(proto::INVERT_B, 0, -1, 1, 11.5, 1, {});
    CHECK(verify(C.P) ==
          error("timing",
                C.curv() + fmt::format(" and task {} (inv-B stage 0 layer 1 cycle step 1 on "
                                       "device 0) overlap on the compute stream of device 0: "
                                       "[11, 12) and [11.5, 12.5) ms",
                                       Extra)));
  }
  {
    CycleProgram C;
    C.P.Tasks[C.Curv].CycleStep = 0;
    CHECK(verify(C.P) ==
          error("timing", C.curv() + " starts at 11 ms, outside its step [0, 9] ms"));
  }
  {
    CycleProgram C; // device 1 is idle in [16, 18): up to the end of the cycle
    TaskId Last = C.add(proto::INVERT_B, 1, -1, 1, 16, 2, {});
    CHECK(verify(C.P) == "");
    C.move(Last, 16.5);
    CHECK(verify(C.P) ==
          error("timing", fmt::format("task {} (inv-B stage 1 layer 2 cycle step 1 on device 1) "
                                      "ends at 18.5 ms, after the 2-step cycle ends at 18 ms",
                                      Last)));
  }
  {
    CycleProgram C;
    C.P.Tasks[C.Inv].CycleStep = 2;
    CHECK(verify(C.P) == error("timing", C.inv() + " runs in a step outside the cycle of 2 steps"));
  }
  {
    CycleProgram C;
    C.P.Kfac.set_refresh_steps(3);
    CHECK(verify(C.P) == error("timing", "the timeline covers 2 steps (report.cycle_steps), the "
                                         "K-FAC refresh cycle 3 (report.kfac.refresh_steps)"));
  }
  {
    CycleProgram C; // curvature B of B(0,0), which ends at 7, in device 0's idle [2, 3)
    TaskId CurvB = C.add(proto::CURVATURE_B, 0, 0, 0, 2, 1, {2});
    CHECK(verify(C.P) ==
          error("timing", fmt::format("task {} (curv-B stage 0 layer 1 micro-batch 0 cycle step 0 "
                                      "on device 0) starts at 2 ms, before its dependency task 2 "
                                      "(B stage 0 micro-batch 0 on device 0) ends at 7 ms",
                                      CurvB)));
    C.P.Tasks[CurvB].DataLag = 1; // the previous step's B(0,0): ends at 7 - 9
    CHECK(verify(C.P) == "");
  }
  {
    CycleProgram C; // not placed yet (simulate without bubble-fill): not timed
    C.P.Kfac.set_refresh_steps(0);
    C.move(C.Curv, 0);
    C.move(C.Inv, 0);
    CHECK(verify(C.P) == "");
  }
}

TEST_CASE("verify: memory over capacity is a warning, or an error") {
  constexpr int64_t MiB = 1 << 20;
  Program P = build(proto::ONE_F_ONE_B, 4, 4, Full);
  P.Devices[0].MemoryCapacity = 2 * MiB;
  P.Stats[0].PeakMemory = 3 * MiB;
  const std::string One = "device 0 peaks at 3.0 MiB, 1.0 MiB (50.0%) over its capacity of 2.0 MiB";
  std::vector<std::string> Warnings;
  CHECK(verify(P, {}, &Warnings) == "");
  CHECK(Warnings == std::vector<std::string>{"pfc: warning: verify: memory capacity: " + One});
  VerifyOptions AsError;
  AsError.MemoryIsError = true;
  CHECK(verify(P, AsError) == error("memory capacity", One));

  P.Devices[2].MemoryCapacity = 4 * MiB;
  P.Stats[2].PeakMemory = 5 * MiB;
  P.Devices[3].MemoryCapacity = 1 * MiB;
  P.Stats[3].PeakMemory = 3 * MiB;
  CHECK(verify(P, AsError) ==
        error("memory capacity", One + "; 2 more devices are over capacity, device 3 by the "
                                       "most: 2.0 MiB (200.0%)"));

  // The verify pass reports each warning once, however often it runs.
  runPasses(P, "verify,verify");
  REQUIRE(P.Warnings.size() == 1);
  CHECK(P.Warnings[0].rfind("pfc: warning: verify: memory capacity: " + One, 0) == 0);
}
