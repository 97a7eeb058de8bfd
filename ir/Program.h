//===- Program.h - pfc's in-memory IR --------------------------------------===//
//
// The program of one training step: devices, pipeline stages, and tasks with
// dependency edges and per-device ordered streams. Tasks and stages are named
// by dense integer ids so that every dump is deterministic. The IR is built
// for scale (millions of tasks): tasks are small structs in one vector, edges
// are a flat list turned into compressed adjacency on demand.
//
// The protobuf plan (proto/plan.proto) is the IR's textual form; see
// PlanConversion.h.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_IR_PROGRAM_H
#define PFC_IR_PROGRAM_H

#include "cluster.pb.h"
#include "model.pb.h"
#include "plan.pb.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pfc {

using TaskId = int32_t;
inline constexpr TaskId NoTask = -1;

using TaskKind = proto::TaskKind;
using StreamKind = proto::StreamKind;
inline constexpr int NumStreams = 4;

/// Short name of a task kind ("F", "B", "send-act", ...), used by dumps.
std::string_view taskKindName(TaskKind K);
/// Name of a schedule as the --schedule flag spells it ("1f1b", ...).
std::string_view scheduleName(proto::Schedule S);
/// Name of a recomputation mode ("none", "selective", "full").
std::string_view recomputeName(proto::Recompute R);
/// Name of a stream ("compute", "send", "recv", "collective").
std::string_view streamName(StreamKind S);
/// The stream a task of this kind runs on.
StreamKind defaultStream(TaskKind K);
bool isCompute(TaskKind K);
/// K-FAC work done once per refresh cycle (curvature, factor all-reduce,
/// inversion), placed at absolute times within the k-step cycle. Every other
/// task runs once per step at the same offset within each step.
bool isCycleTask(TaskKind K);

struct Task {
  TaskKind Kind = proto::TASK_KIND_UNSPECIFIED;
  StreamKind Stream = proto::COMPUTE;
  int32_t Device = -1;
  int32_t Stage = -1;
  int32_t Microbatch = -1;
  TaskId Peer = NoTask;
  double DurationMs = 0;
  int64_t Bytes = 0;
  /// Positive: allocated when the task starts; negative: freed when it ends.
  int64_t MemoryDelta = 0;
  /// K-FAC tasks: step of the refresh cycle (0..k-1), model layer (the first
  /// of LayerCount consecutive blocks a grouped curvature task covers), piece
  /// of a split task. Pipeline tasks: 0, -1, 0, 1. Piece and LayerCount are
  /// 16-bit (plans hold at most 64 pieces and 32767 blocks per task; loading
  /// checks it) so that a Task stays 64 bytes.
  int32_t CycleStep = 0;
  int32_t Layer = -1;
  int16_t Piece = 0;
  int16_t LayerCount = 1;
  /// Curvature tasks: steps between the data's step and CycleStep (0 or 1).
  int32_t DataLag = 0;
};

struct Stage {
  int32_t Device = -1;
  int32_t Pipeline = 0;
  int32_t Position = 0;
  int32_t LayerBegin = 0;
  int32_t LayerEnd = 0;
  double ForwardMs = 0;
  double BackwardMs = 0;
  int64_t ParamBytes = 0;
  int64_t ActivationBytes = 0;
  int64_t OutputBytes = 0;
};

struct Device {
  int32_t Node = 0;
  int64_t MemoryCapacity = 0;
};

/// Compressed adjacency (CSR) of the dependency graph.
struct Adjacency {
  std::vector<int32_t> Offsets; // size NumTasks + 1
  std::vector<TaskId> Targets;
  std::span<const TaskId> of(TaskId T) const {
    return {Targets.data() + Offsets[T], Targets.data() + Offsets[T + 1]};
  }
};

/// Results of the simulate and memory passes.
struct DeviceStats {
  double BusyMs = 0;
  double IdleMs = 0;
  int64_t StaticMemory = 0;
  int64_t PeakMemory = 0;
  int32_t PeakInflight = 0;
};

struct Timing {
  bool Simulated = false;
  std::vector<double> Start, End; // per task
  double StepTimeMs = 0;
  double BubbleFraction = 0;
  std::vector<TaskId> CriticalPath;
  /// Steps covered by the timeline (the K-FAC refresh cycle k), 1 without K-FAC.
  int32_t CycleSteps = 1;
};

class Program {
public:
  proto::Model Model;
  proto::Cluster Cluster;
  proto::CompileOptions Options;

  std::vector<Device> Devices;
  std::vector<Stage> Stages;
  std::vector<Task> Tasks;
  /// Dependency edges (From must end before To starts), in insertion order.
  std::vector<std::pair<TaskId, TaskId>> Edges;
  /// Streams[Device * NumStreams + Stream] = task ids in execution order.
  std::vector<std::vector<TaskId>> Streams;

  Timing Time;
  std::vector<DeviceStats> Stats;
  /// Results of the K-FAC passes (kfac-insert, bubble-fill); present=false
  /// without K-FAC.
  proto::KfacReport Kfac;
  /// Warnings from passes (e.g. memory over capacity), printed by the driver.
  std::vector<std::string> Warnings;

  int32_t numTasks() const { return static_cast<int32_t>(Tasks.size()); }
  int32_t numDevices() const { return static_cast<int32_t>(Devices.size()); }
  int32_t numStages() const { return static_cast<int32_t>(Stages.size()); }
  /// Pipelines the stages form (2 under Chimera), 0 before partition.
  int32_t numPipelines() const;

  /// Appends a task and puts it at the end of its device stream.
  TaskId addTask(const Task &T);
  void addEdge(TaskId From, TaskId To) { Edges.emplace_back(From, To); }

  std::vector<TaskId> &stream(int32_t Dev, StreamKind S) {
    return Streams[static_cast<size_t>(Dev) * NumStreams + S];
  }
  const std::vector<TaskId> &stream(int32_t Dev, StreamKind S) const {
    return Streams[static_cast<size_t>(Dev) * NumStreams + S];
  }

  /// Resets devices and streams to \p N devices with empty streams.
  void setNumDevices(int32_t N);
  /// Drops all tasks, edges and results, keeping devices and stages.
  void clearTasks();
  /// Drops simulation and memory results: a pass that changes the task graph
  /// calls it, since timings and peaks no longer hold.
  void clearResults();

  /// Predecessors (incoming dependency edges) of every task, sorted.
  Adjacency predecessors() const;
  /// Successors of every task, sorted.
  Adjacency successors() const;
};

} // namespace pfc

#endif
