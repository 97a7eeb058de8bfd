//===- Summary.cpp - headline figures of a plan ----------------------------===//
#include "Dumps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <fmt/format.h>

#include <array>

namespace pfc {

namespace {

std::string_view scheduleName(proto::Schedule S) {
  switch (S) {
  case proto::GPIPE: return "gpipe";
  case proto::ONE_F_ONE_B: return "1f1b";
  case proto::INTERLEAVED: return "interleaved";
  case proto::CHIMERA: return "chimera";
  default: return "unspecified";
  }
}

std::string mib(int64_t Bytes) { return fmt::format("{:.1f}", Bytes / (1024.0 * 1024.0)); }

} // namespace

void printSummary(const Program &P, llvm::raw_ostream &OS) {
  const auto &O = P.Options;
  OS << fmt::format("plan: {} on {} ({} x {}), schedule {}\n", P.Model.name(), P.Cluster.name(),
                    P.Cluster.num_nodes(), P.Cluster.gpus_per_node(),
                    scheduleName(O.schedule()));
  OS << fmt::format("pipeline: {} stages on {} devices, {} micro-batches of {}, virtual stages "
                    "{}, data-parallel {}\n",
                    P.numStages(), P.numDevices(), O.microbatches(), P.Model.micro_batch_size(),
                    std::max(1, O.virtual_stages()), std::max(1, O.data_parallel()));
  OS << "costs: " << (O.has_profile() ? "profile " + O.profile().source() : "analytic")
     << "\n";
  std::array<int64_t, 16> Counts{};
  for (const Task &T : P.Tasks)
    ++Counts[T.Kind];
  OS << fmt::format("tasks: {}", P.numTasks());
  const char *Sep = " (";
  for (int K = 1; K < static_cast<int>(Counts.size()); ++K)
    if (Counts[K]) {
      OS << fmt::format("{}{} {}", Sep, taskKindName(static_cast<TaskKind>(K)), Counts[K]);
      Sep = ", ";
    }
  OS << (*Sep == ',' ? ")\n" : "\n");
  if (!P.Time.Simulated) {
    OS << "not simulated (run the simulate pass)\n";
    return;
  }
  OS << fmt::format("step time: {:.3f} ms\n", P.Time.StepTimeMs);
  OS << fmt::format("bubble fraction: {:.4f}\n", P.Time.BubbleFraction);
  OS << fmt::format("critical path: {} tasks\n", P.Time.CriticalPath.size());
  OS << fmt::format("{:>6} {:>4} {:>6} {:>12} {:>12} {:>7} {:>12} {:>12} {:>8}\n", "device",
                    "node", "stages", "busy ms", "idle ms", "idle %", "peak MiB",
                    "capacity MiB", "inflight");
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    const DeviceStats &S = D < static_cast<int32_t>(P.Stats.size()) ? P.Stats[D] : DeviceStats{};
    int Stages = 0;
    for (const Stage &St : P.Stages)
      Stages += St.Device == D;
    double IdlePct = P.Time.StepTimeMs > 0 ? 100 * S.IdleMs / P.Time.StepTimeMs : 0;
    OS << fmt::format("{:>6} {:>4} {:>6} {:>12.3f} {:>12.3f} {:>7.2f} {:>12} {:>12} {:>8}\n", D,
                      P.Devices[D].Node, Stages, S.BusyMs, S.IdleMs, IdlePct, mib(S.PeakMemory),
                      mib(P.Devices[D].MemoryCapacity), S.PeakInflight);
  }
}

void printSummaryJson(const Program &P, llvm::raw_ostream &OS) {
  const auto &O = P.Options;
  llvm::json::Array Devices;
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    const DeviceStats &S = D < static_cast<int32_t>(P.Stats.size()) ? P.Stats[D] : DeviceStats{};
    Devices.push_back(llvm::json::Object{
        {"device", D},
        {"node", P.Devices[D].Node},
        {"busy_ms", S.BusyMs},
        {"idle_ms", S.IdleMs},
        {"static_memory_bytes", S.StaticMemory},
        {"peak_memory_bytes", S.PeakMemory},
        {"memory_capacity_bytes", P.Devices[D].MemoryCapacity},
        {"peak_inflight_microbatches", S.PeakInflight},
    });
  }
  llvm::json::Object Root{
      {"model", P.Model.name()},
      {"cluster", P.Cluster.name()},
      {"schedule", std::string(scheduleName(O.schedule()))},
      {"stages", O.stages()},
      {"model_stages", P.numStages()},
      {"microbatches", O.microbatches()},
      {"virtual_stages", std::max(1, O.virtual_stages())},
      {"data_parallel", std::max(1, O.data_parallel())},
      {"tasks", P.numTasks()},
      {"simulated", P.Time.Simulated},
      {"step_time_ms", P.Time.StepTimeMs},
      {"bubble_fraction", P.Time.BubbleFraction},
      {"critical_path_tasks", static_cast<int64_t>(P.Time.CriticalPath.size())},
      {"devices", std::move(Devices)},
  };
  OS << llvm::formatv("{0:2}", llvm::json::Value(std::move(Root))) << "\n";
}

} // namespace pfc
