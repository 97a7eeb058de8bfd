//===- PlanConversion.cpp - IR <-> plan protobuf ---------------------------===//
#include "PlanConversion.h"

#include "Diagnostics.h"

#include <algorithm>
#include <limits>

namespace pfc {

proto::Plan toPlan(const Program &P) {
  proto::Plan Plan;
  Plan.set_version(PlanVersion);
  *Plan.mutable_model() = P.Model;
  *Plan.mutable_cluster() = P.Cluster;
  *Plan.mutable_options() = P.Options;
  for (int32_t I = 0; I < P.numDevices(); ++I) {
    auto *D = Plan.add_devices();
    D->set_id(I);
    D->set_node(P.Devices[I].Node);
    D->set_memory_capacity_bytes(P.Devices[I].MemoryCapacity);
  }
  for (int32_t I = 0; I < P.numStages(); ++I) {
    const Stage &S = P.Stages[I];
    auto *O = Plan.add_stages();
    O->set_id(I);
    O->set_device(S.Device);
    O->set_pipeline(S.Pipeline);
    O->set_position(S.Position);
    O->set_layer_begin(S.LayerBegin);
    O->set_layer_end(S.LayerEnd);
    O->set_forward_ms(S.ForwardMs);
    O->set_backward_ms(S.BackwardMs);
    O->set_param_bytes(S.ParamBytes);
    O->set_activation_bytes(S.ActivationBytes);
    O->set_output_bytes(S.OutputBytes);
  }
  Adjacency Preds = P.predecessors();
  Plan.mutable_tasks()->Reserve(P.numTasks());
  for (TaskId I = 0; I < P.numTasks(); ++I) {
    const Task &T = P.Tasks[I];
    auto *O = Plan.add_tasks();
    O->set_id(I);
    O->set_kind(T.Kind);
    O->set_device(T.Device);
    O->set_stream(T.Stream);
    O->set_stage(T.Stage);
    O->set_microbatch(T.Microbatch);
    O->set_duration_ms(T.DurationMs);
    O->set_bytes(T.Bytes);
    O->set_memory_delta_bytes(T.MemoryDelta);
    O->set_peer(T.Peer);
    O->set_cycle_step(T.CycleStep);
    O->set_layer(T.Layer);
    O->set_piece(T.Piece);
    if (T.LayerCount > 1)
      O->set_layer_count(T.LayerCount); // 0 (unset) means one block
    O->set_data_lag(T.DataLag);
    auto Deps = Preds.of(I);
    O->mutable_deps()->Add(Deps.begin(), Deps.end());
    if (P.Time.Simulated) {
      O->set_start_ms(P.Time.Start[I]);
      O->set_end_ms(P.Time.End[I]);
    }
  }
  for (int32_t D = 0; D < P.numDevices(); ++D)
    for (int S = 0; S < NumStreams; ++S) {
      const auto &Order = P.stream(D, static_cast<StreamKind>(S));
      if (Order.empty())
        continue;
      auto *O = Plan.add_streams();
      O->set_device(D);
      O->set_stream(static_cast<StreamKind>(S));
      O->mutable_tasks()->Add(Order.begin(), Order.end());
    }
  auto *R = Plan.mutable_report();
  R->set_simulated(P.Time.Simulated);
  if (P.Time.Simulated) {
    R->set_step_time_ms(P.Time.StepTimeMs);
    R->set_bubble_fraction(P.Time.BubbleFraction);
    R->set_cycle_steps(P.Time.CycleSteps);
    R->mutable_critical_path()->Add(P.Time.CriticalPath.begin(), P.Time.CriticalPath.end());
  }
  if (P.Kfac.present())
    *R->mutable_kfac() = P.Kfac;
  for (size_t D = 0; D < P.Stats.size(); ++D) {
    const DeviceStats &S = P.Stats[D];
    auto *O = R->add_devices();
    O->set_device(static_cast<int32_t>(D));
    O->set_busy_ms(S.BusyMs);
    O->set_idle_ms(S.IdleMs);
    O->set_static_memory_bytes(S.StaticMemory);
    O->set_peak_memory_bytes(S.PeakMemory);
    O->set_peak_inflight_microbatches(S.PeakInflight);
  }
  return Plan;
}

llvm::Expected<Program> fromPlan(const proto::Plan &Plan, llvm::StringRef Source) {
  auto Bad = [&](const std::string &Field, const std::string &Why) {
    return userError("{}: error: invalid plan: {}: {}", Source.str(), Field, Why);
  };
  if (Plan.version() != PlanVersion)
    return Bad("version", fmt::format("is {}, this pfc reads version {}", Plan.version(),
                                      PlanVersion));
  Program P;
  P.Model = Plan.model();
  P.Cluster = Plan.cluster();
  P.Options = Plan.options();
  int32_t NumDevices = Plan.devices_size();
  P.setNumDevices(NumDevices);
  for (int32_t I = 0; I < NumDevices; ++I) {
    const auto &D = Plan.devices(I);
    if (D.id() != I)
      return Bad(fmt::format("devices[{}].id", I), fmt::format("is {}, expected {}", D.id(), I));
    P.Devices[I] = Device{D.node(), D.memory_capacity_bytes()};
  }
  auto DeviceOk = [&](int32_t D) { return D >= 0 && D < NumDevices; };
  for (int32_t I = 0; I < Plan.stages_size(); ++I) {
    const auto &S = Plan.stages(I);
    if (S.id() != I)
      return Bad(fmt::format("stages[{}].id", I), fmt::format("is {}, expected {}", S.id(), I));
    if (!DeviceOk(S.device()))
      return Bad(fmt::format("stages[{}].device", I),
                 fmt::format("{} is not in [0, {})", S.device(), NumDevices));
    P.Stages.push_back(Stage{S.device(), S.pipeline(), S.position(), S.layer_begin(),
                             S.layer_end(), S.forward_ms(), S.backward_ms(), S.param_bytes(),
                             S.activation_bytes(), S.output_bytes()});
  }
  int32_t NumTasks = Plan.tasks_size();
  P.Tasks.reserve(NumTasks);
  bool HasTimes = Plan.report().simulated();
  if (HasTimes) {
    P.Time.Simulated = true;
    P.Time.Start.resize(NumTasks);
    P.Time.End.resize(NumTasks);
  }
  for (int32_t I = 0; I < NumTasks; ++I) {
    const auto &T = Plan.tasks(I);
    std::string Where = fmt::format("tasks[{}]", I);
    if (T.id() != I)
      return Bad(Where + ".id", fmt::format("is {}, expected {}", T.id(), I));
    if (!proto::TaskKind_IsValid(T.kind()) || T.kind() == proto::TASK_KIND_UNSPECIFIED)
      return Bad(Where + ".kind", fmt::format("{} is not a task kind (FORWARD = 1 ... "
                                              "ALL_GATHER = {})",
                                              static_cast<int>(T.kind()), proto::TaskKind_MAX));
    if (!proto::StreamKind_IsValid(T.stream()))
      return Bad(Where + ".stream",
                 fmt::format("{} is not a stream (COMPUTE = 0 ... "
                             "COLLECTIVE = {})",
                             static_cast<int>(T.stream()), proto::StreamKind_MAX));
    if (!DeviceOk(T.device()))
      return Bad(Where + ".device", fmt::format("{} is not in [0, {})", T.device(), NumDevices));
    if (T.stage() < -1 || T.stage() >= P.numStages())
      return Bad(Where + ".stage", fmt::format("{} is not -1 or in [0, {})", T.stage(),
                                               P.numStages()));
    if (T.peer() < -1 || T.peer() >= NumTasks)
      return Bad(Where + ".peer", fmt::format("{} is not -1 or a task id", T.peer()));
    if (!(T.duration_ms() >= 0))
      return Bad(Where + ".duration_ms", "must be >= 0");
    for (int32_t Dep : T.deps()) {
      if (Dep < 0 || Dep >= NumTasks || Dep == I)
        return Bad(Where + ".deps", fmt::format("{} is not another task's id", Dep));
      P.Edges.emplace_back(Dep, I);
    }
    if (T.cycle_step() < 0)
      return Bad(Where + ".cycle_step", fmt::format("{} is negative", T.cycle_step()));
    if (T.piece() < 0 || T.piece() > std::numeric_limits<int16_t>::max())
      return Bad(Where + ".piece", fmt::format("{} is not in [0, 32767]", T.piece()));
    if (T.layer_count() < 0 || T.layer_count() > std::numeric_limits<int16_t>::max())
      return Bad(Where + ".layer_count",
                 fmt::format("{} is not in [0, 32767] (0 and 1: one block)", T.layer_count()));
    Task Tk;
    Tk.Kind = T.kind();
    Tk.Stream = T.stream();
    Tk.Device = T.device();
    Tk.Stage = T.stage();
    Tk.Microbatch = T.microbatch();
    Tk.Peer = T.peer();
    Tk.DurationMs = T.duration_ms();
    Tk.Bytes = T.bytes();
    Tk.MemoryDelta = T.memory_delta_bytes();
    Tk.CycleStep = T.cycle_step();
    Tk.Layer = T.layer();
    Tk.Piece = static_cast<int16_t>(T.piece());
    Tk.LayerCount = static_cast<int16_t>(std::max(1, T.layer_count()));
    Tk.DataLag = T.data_lag();
    P.Tasks.push_back(Tk);
    if (HasTimes) {
      P.Time.Start[I] = T.start_ms();
      P.Time.End[I] = T.end_ms();
    }
  }
  std::vector<char> Placed(NumTasks, 0);
  for (int32_t I = 0; I < Plan.streams_size(); ++I) {
    const auto &S = Plan.streams(I);
    std::string Where = fmt::format("streams[{}]", I);
    if (!DeviceOk(S.device()))
      return Bad(Where + ".device", fmt::format("{} is not in [0, {})", S.device(), NumDevices));
    if (!proto::StreamKind_IsValid(S.stream()))
      return Bad(Where + ".stream",
                 fmt::format("{} is not a stream (COMPUTE = 0 ... "
                             "COLLECTIVE = {})",
                             static_cast<int>(S.stream()), proto::StreamKind_MAX));
    auto &Order = P.stream(S.device(), S.stream());
    if (!Order.empty())
      return Bad(Where, fmt::format("device {} stream {} listed twice", S.device(),
                                    streamName(S.stream())));
    for (int32_t T : S.tasks()) {
      if (T < 0 || T >= NumTasks)
        return Bad(Where + ".tasks", fmt::format("{} is not a task id", T));
      const Task &Tk = P.Tasks[T];
      if (Tk.Device != S.device() || Tk.Stream != S.stream())
        return Bad(Where + ".tasks",
                   fmt::format("task {} runs on device {} stream {}, not here", T, Tk.Device,
                               streamName(Tk.Stream)));
      if (Placed[T]++)
        return Bad(Where + ".tasks", fmt::format("task {} listed twice", T));
      Order.push_back(T);
    }
  }
  for (int32_t T = 0; T < NumTasks; ++T)
    if (!Placed[T])
      return Bad(fmt::format("tasks[{}]", T), "is in no stream");
  // Edges were added per task in dependency order; keep that order canonical.
  const auto &R = Plan.report();
  if (HasTimes) {
    P.Time.StepTimeMs = R.step_time_ms();
    P.Time.BubbleFraction = R.bubble_fraction();
    P.Time.CycleSteps = std::max(1, R.cycle_steps());
    P.Time.CriticalPath.assign(R.critical_path().begin(), R.critical_path().end());
  }
  P.Kfac = R.kfac();
  for (const auto &D : R.devices())
    P.Stats.push_back(DeviceStats{D.busy_ms(), D.idle_ms(), D.static_memory_bytes(),
                                  D.peak_memory_bytes(), D.peak_inflight_microbatches()});
  return P;
}

} // namespace pfc
