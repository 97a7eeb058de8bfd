//===- Program.cpp - pfc's in-memory IR ------------------------------------===//
#include "Program.h"

#include <algorithm>
#include <cassert>

namespace pfc {

std::string_view taskKindName(TaskKind K) {
  switch (K) {
  case proto::FORWARD: return "F";
  case proto::BACKWARD: return "B";
  case proto::SEND_ACTIVATION: return "send-act";
  case proto::RECV_ACTIVATION: return "recv-act";
  case proto::SEND_GRADIENT: return "send-grad";
  case proto::RECV_GRADIENT: return "recv-grad";
  case proto::ALL_REDUCE: return "all-reduce";
  case proto::OPTIMIZER_STEP: return "optimizer";
  case proto::CURVATURE_A: return "curv-A";
  case proto::CURVATURE_B: return "curv-B";
  case proto::FACTOR_ALL_REDUCE: return "factor-all-reduce";
  case proto::INVERT_A: return "inv-A";
  case proto::INVERT_B: return "inv-B";
  case proto::PRECONDITION: return "precondition";
  case proto::REDUCE_SCATTER: return "reduce-scatter";
  case proto::ALL_GATHER: return "all-gather";
  default: return "?";
  }
}

std::string_view scheduleName(proto::Schedule S) {
  switch (S) {
  case proto::GPIPE: return "gpipe";
  case proto::ONE_F_ONE_B: return "1f1b";
  case proto::INTERLEAVED: return "interleaved";
  case proto::CHIMERA: return "chimera";
  case proto::LAYERED: return "layered";
  default: return "unspecified";
  }
}

std::string_view recomputeName(proto::Recompute R) {
  switch (R) {
  case proto::RECOMPUTE_SELECTIVE: return "selective";
  case proto::RECOMPUTE_FULL: return "full";
  default: return "none";
  }
}

std::string_view streamName(StreamKind S) {
  switch (S) {
  case proto::COMPUTE: return "compute";
  case proto::SEND: return "send";
  case proto::RECV: return "recv";
  case proto::COLLECTIVE: return "collective";
  default: return "?";
  }
}

StreamKind defaultStream(TaskKind K) {
  switch (K) {
  case proto::SEND_ACTIVATION:
  case proto::SEND_GRADIENT: return proto::SEND;
  case proto::RECV_ACTIVATION:
  case proto::RECV_GRADIENT: return proto::RECV;
  case proto::ALL_REDUCE:
  case proto::FACTOR_ALL_REDUCE:
  case proto::REDUCE_SCATTER:
  case proto::ALL_GATHER: return proto::COLLECTIVE;
  default: return proto::COMPUTE;
  }
}

bool isCompute(TaskKind K) { return defaultStream(K) == proto::COMPUTE; }

bool isCycleTask(TaskKind K) {
  switch (K) {
  case proto::CURVATURE_A:
  case proto::CURVATURE_B:
  case proto::FACTOR_ALL_REDUCE:
  case proto::INVERT_A:
  case proto::INVERT_B: return true;
  default: return false;
  }
}

TaskId Program::addTask(const Task &T) {
  assert(T.Device >= 0 && T.Device < numDevices() && "task on unknown device");
  auto Id = static_cast<TaskId>(Tasks.size());
  Tasks.push_back(T);
  stream(T.Device, T.Stream).push_back(Id);
  return Id;
}

void Program::setNumDevices(int32_t N) {
  Devices.assign(N, Device{});
  Streams.assign(static_cast<size_t>(N) * NumStreams, {});
}

void Program::clearTasks() {
  Tasks.clear();
  Edges.clear();
  for (auto &S : Streams)
    S.clear();
  clearResults();
  Kfac.Clear();
}

int32_t Program::numPipelines() const {
  int32_t N = 0;
  for (const Stage &St : Stages)
    N = std::max(N, St.Pipeline + 1);
  return N;
}

void Program::clearResults() {
  Time = Timing{};
  Stats.clear();
}

static Adjacency buildAdjacency(int32_t N, const std::vector<std::pair<TaskId, TaskId>> &Edges,
                                bool Reverse) {
  // Counting sort by key. Offsets[K] first counts, then (inclusive prefix
  // sum) ends K's bucket; filling buckets from their ends leaves it at the
  // bucket's start, so no cursor array is needed. Most buckets hold one or
  // two ids: insertion sort beats std::sort's call per bucket at 1M tasks.
  Adjacency A;
  A.Offsets.assign(static_cast<size_t>(N) + 1, 0);
  for (auto [From, To] : Edges)
    ++A.Offsets[Reverse ? To : From];
  for (int32_t I = 1; I < N; ++I)
    A.Offsets[I] += A.Offsets[I - 1];
  A.Offsets[N] = static_cast<int32_t>(Edges.size());
  A.Targets.resize(Edges.size());
  for (auto It = Edges.rbegin(); It != Edges.rend(); ++It) {
    auto [From, To] = *It;
    A.Targets[--A.Offsets[Reverse ? To : From]] = Reverse ? From : To;
  }
  for (int32_t I = 0; I < N; ++I) {
    TaskId *Begin = A.Targets.data() + A.Offsets[I], *End = A.Targets.data() + A.Offsets[I + 1];
    if (End - Begin > 16) {
      // Long lists (an inversion's thousands of curvature inputs) usually
      // arrive in order already.
      if (!std::is_sorted(Begin, End))
        std::sort(Begin, End);
      continue;
    }
    for (TaskId *J = Begin + 1; J < End; ++J)
      for (TaskId *K = J; K > Begin && K[0] < K[-1]; --K)
        std::swap(K[0], K[-1]);
  }
  return A;
}

Adjacency Program::predecessors() const { return buildAdjacency(numTasks(), Edges, true); }
Adjacency Program::successors() const { return buildAdjacency(numTasks(), Edges, false); }

} // namespace pfc
