//===- Summary.cpp - headline figures of a plan ----------------------------===//
#include "DumpUtil.h"
#include "Dumps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <fmt/format.h>

#include <array>

namespace pfc {

namespace {

std::string mib(int64_t Bytes) { return fmt::format("{:.1f}", Bytes / (1024.0 * 1024.0)); }

/// What the plan's curvature tasks cover: the micro-batches they take
/// their data from (of N), and the most blocks and pieces of one task.
struct CurvatureShape {
  int32_t Microbatches = 0;
  int32_t MaxBlocks = 0;
  int32_t MaxPieces = 0;
};

CurvatureShape curvatureShape(const Program &P) {
  CurvatureShape C;
  std::vector<char> Used(static_cast<size_t>(std::max(0, P.Options.microbatches())), 0);
  for (const Task &T : P.Tasks) {
    if (T.Kind != proto::CURVATURE_A && T.Kind != proto::CURVATURE_B)
      continue;
    if (T.Microbatch >= 0 && static_cast<size_t>(T.Microbatch) < Used.size())
      Used[static_cast<size_t>(T.Microbatch)] = 1;
    C.MaxBlocks = std::max<int32_t>(C.MaxBlocks, T.LayerCount);
    C.MaxPieces = std::max<int32_t>(C.MaxPieces, T.Piece + 1);
  }
  for (char U : Used)
    C.Microbatches += U;
  return C;
}

void printKfac(const Program &P, llvm::raw_ostream &OS) {
  const proto::KfacReport &K = P.Kfac;
  OS << fmt::format("kfac: placement {}, {} tasks, {} inversions split\n", K.placement(),
                    K.tasks(), K.split_inversions());
  const CurvatureShape C = curvatureShape(P);
  OS << fmt::format("  curvature: from {} of {} micro-batches, up to {} block{} and {} piece{} "
                    "a task\n",
                    C.Microbatches, P.Options.microbatches(), C.MaxBlocks,
                    C.MaxBlocks == 1 ? "" : "s", C.MaxPieces, C.MaxPieces == 1 ? "" : "s");
  OS << fmt::format("  refresh steps: {} (lower bound {})\n", K.refresh_steps(),
                    K.lower_bound_steps());
  auto Share = [&](double Ms) {
    return K.step_time_ms_without() > 0 ? 100 * Ms / K.step_time_ms_without() : 0.0;
  };
  OS << fmt::format("  step time: {:.3f} ms without K-FAC, {:.3f} ms with ({:+.2f}%{})\n",
                    K.step_time_ms_without(), K.step_time_ms_with(),
                    Share(K.step_time_ms_with() - K.step_time_ms_without()),
                    K.stretch_ms() > 0
                        ? fmt::format(": preconditioning {:+.2f}%, stretch {:+.2f}% to fit the "
                                      "work",
                                      Share(K.step_time_ms_with() - K.step_time_ms_without() -
                                            K.stretch_ms()),
                                      Share(K.stretch_ms()))
                        : "");
  OS << fmt::format("  utilization: {:.1f}% before, {:.1f}% after; fill ratio {:.3f}\n",
                    100 * K.utilization_before(), 100 * K.utilization_after(), K.fill_ratio());
  OS << fmt::format("  {:>6} {:>7} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>10} {:>10}\n",
                    "device", "refresh", "bound", "work ms", "idle ms", "precond", "util<",
                    "util>", "factor MiB", "saved MiB");
  for (const auto &D : K.devices())
    OS << fmt::format(
        "  {:>6} {:>7} {:>6} {:>10.3f} {:>10.3f} {:>10.3f} {:>7.1f}% {:>7.1f}% {:>10} {:>10}\n",
        D.device(), D.refresh_steps(), D.lower_bound_steps(), D.work_ms(), D.idle_ms_per_step(),
        D.precondition_ms(), 100 * D.utilization_before(), 100 * D.utilization_after(),
        mib(D.factor_bytes()), mib(D.saved_bytes()));
}

llvm::json::Object kfacJson(const Program &P) {
  const proto::KfacReport &K = P.Kfac;
  const CurvatureShape C = curvatureShape(P);
  llvm::json::Array Devices, Refresh, Bound;
  for (const auto &D : K.devices()) {
    Refresh.push_back(D.refresh_steps());
    Bound.push_back(D.lower_bound_steps());
    Devices.push_back(llvm::json::Object{
        {"device", D.device()},
        {"refresh_steps", D.refresh_steps()},
        {"lower_bound_steps", D.lower_bound_steps()},
        {"work_ms", D.work_ms()},
        {"precondition_ms", D.precondition_ms()},
        {"idle_ms_per_step", D.idle_ms_per_step()},
        {"utilization_before", D.utilization_before()},
        {"utilization_after", D.utilization_after()},
        {"factor_bytes", D.factor_bytes()},
        {"saved_bytes", D.saved_bytes()},
    });
  }
  return llvm::json::Object{
      {"placement", K.placement()},
      {"refresh_steps", K.refresh_steps()},
      {"lower_bound_steps", K.lower_bound_steps()},
      {"fill_ratio", K.fill_ratio()},
      {"step_time_ms_without_kfac", K.step_time_ms_without()},
      {"step_time_ms_with_kfac", K.step_time_ms_with()},
      {"stretch_ms", K.stretch_ms()},
      {"utilization_before", K.utilization_before()},
      {"utilization_after", K.utilization_after()},
      {"tasks", K.tasks()},
      {"split_inversions", K.split_inversions()},
      {"curvature_microbatches", C.Microbatches},
      {"curvature_max_blocks", C.MaxBlocks},
      {"curvature_max_pieces", C.MaxPieces},
      {"devices", std::move(Devices)},
  };
}

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
  if (O.zero() > 0)
    OS << fmt::format("zero: stage {} across {} replicas\n", O.zero(), O.data_parallel());
  if (std::string Tp = tensorParallelText(P); !Tp.empty())
    OS << fmt::format("per device: {}, recompute {}\n", Tp, recomputeName(O.recompute()));
  OS << "costs: " << (O.has_profile() ? "profile " + O.profile().source() : "analytic")
     << "\n";
  std::array<int64_t, proto::TaskKind_ARRAYSIZE> Counts{};
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
  if (P.Kfac.present())
    printKfac(P, OS);
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
      {"tensor_parallel", std::max(1, O.tensor_parallel())},
      {"sequence_parallel", O.sequence_parallel()},
      {"recompute", std::string(recomputeName(O.recompute()))},
      {"tasks", P.numTasks()},
      {"simulated", P.Time.Simulated},
      {"step_time_ms", P.Time.StepTimeMs},
      {"bubble_fraction", P.Time.BubbleFraction},
      {"critical_path_tasks", static_cast<int64_t>(P.Time.CriticalPath.size())},
      {"devices", std::move(Devices)},
  };
  if (P.Kfac.present())
    Root["kfac"] = kfacJson(P);
  OS << llvm::formatv("{0:2}", llvm::json::Value(std::move(Root))) << "\n";
}

} // namespace pfc
