//===- MemoryReport.cpp - per-device memory against capacity ---------------===//
//
// Reads the memory pass's results (Program::Stats): static memory
// (parameters, gradients, optimizer state), the activation peak on top of
// it, their sum, the device capacity and the headroom left (negative when the
// plan does not fit), plus the peak number of micro-batches in flight. With
// K-FAC it lists the factor and saved-activation bytes of the K-FAC report,
// which the memory pass has already added to the peak.
// A plan the memory pass never saw says so instead of printing zeros.
//
//===----------------------------------------------------------------------===//
#include "DumpUtil.h"
#include "Dumps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <fmt/format.h>

namespace pfc {
namespace {

struct DeviceMemory {
  int32_t Device = 0, Node = 0, Inflight = 0;
  int64_t Static = 0, Activations = 0, Peak = 0, Capacity = 0;
  int64_t headroom() const { return Capacity - Peak; }
  bool over() const { return Capacity > 0 && Peak > Capacity; }
};

bool hasMemoryResults(const Program &P) {
  if (static_cast<int32_t>(P.Stats.size()) < P.numDevices())
    return false;
  for (const DeviceStats &S : P.Stats)
    if (S.StaticMemory != 0 || S.PeakMemory != 0)
      return true;
  return false;
}

std::vector<DeviceMemory> collect(const Program &P) {
  std::vector<DeviceMemory> Out;
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    const DeviceStats &S = P.Stats[D];
    Out.push_back({D, P.Devices[D].Node, S.PeakInflight, S.StaticMemory,
                   S.PeakMemory - S.StaticMemory, S.PeakMemory, P.Devices[D].MemoryCapacity});
  }
  return Out;
}

DeviceMemory total(const std::vector<DeviceMemory> &Devices) {
  DeviceMemory T;
  for (const DeviceMemory &D : Devices) {
    T.Static += D.Static;
    T.Activations += D.Activations;
    T.Peak += D.Peak;
    T.Capacity += D.Capacity;
  }
  return T;
}

std::string mib(int64_t Bytes) { return fmt::format("{:.1f}", Bytes / (1024.0 * 1024.0)); }

const proto::KfacDeviceReport *kfacDevice(const Program &P, int32_t D) {
  for (const auto &R : P.Kfac.devices())
    if (R.device() == D)
      return &R;
  return nullptr;
}

constexpr const char *RowFormat = "{:>6} {:>4} {:>11} {:>15} {:>11} {:>13} {:>13} {:>9}\n";

} // namespace

void printMemoryReport(const Program &P, llvm::raw_ostream &OS) {
  OS << "memory: " << planTitle(P) << "\n";
  if (!hasMemoryResults(P)) {
    OS << "memory: the plan has no memory results; run 'pfc opt PLAN --passes=memory -o PLAN' "
          "first\n";
    return;
  }
  std::vector<DeviceMemory> Devices = collect(P);
  if (std::string Tp = tensorParallelText(P); !Tp.empty())
    OS << fmt::format("per GPU: each device is {}; recompute {}\n", Tp,
                      recomputeName(P.Options.recompute()));
  OS << fmt::format(RowFormat, "device", "node", "static MiB", "activations MiB", "peak MiB",
                    "capacity MiB", "headroom MiB", "in-flight");
  for (const DeviceMemory &D : Devices)
    OS << fmt::format(RowFormat, D.Device, D.Node, mib(D.Static), mib(D.Activations), mib(D.Peak),
                      mib(D.Capacity), D.Capacity > 0 ? mib(D.headroom()) : "n/a", D.Inflight);
  DeviceMemory T = total(Devices);
  std::string Total = fmt::format(RowFormat, "total", "", mib(T.Static), mib(T.Activations),
                                  mib(T.Peak), mib(T.Capacity), mib(T.headroom()), "");
  OS << Total.erase(Total.find_last_not_of(" \n") + 1) << "\n";
  int Over = 0;
  const DeviceMemory *Tightest = nullptr;
  for (const DeviceMemory &D : Devices) {
    if (D.over()) {
      ++Over;
      OS << fmt::format("device {} is over capacity by {} MiB (peak {} MiB, capacity {} MiB)\n",
                        D.Device, mib(-D.headroom()), mib(D.Peak), mib(D.Capacity));
    }
    if (D.Capacity > 0 && (!Tightest || D.headroom() < Tightest->headroom()))
      Tightest = &D;
  }
  if (Over)
    OS << fmt::format("{} of {} devices over capacity\n", Over, Devices.size());
  else if (Tightest)
    OS << fmt::format("all devices fit; least headroom {} MiB on device {}\n",
                      mib(Tightest->headroom()), Tightest->Device);
  if (!P.Kfac.present())
    return;
  OS << "K-FAC (counted in the peak above, as the memory pass adds them):\n";
  OS << fmt::format("{:>6} {:>12} {:>26}\n", "device", "factors MiB", "saved for curvature MiB");
  for (const DeviceMemory &D : Devices)
    if (const proto::KfacDeviceReport *R = kfacDevice(P, D.Device))
      OS << fmt::format("{:>6} {:>12} {:>26}\n", D.Device, mib(R->factor_bytes()),
                        mib(R->saved_bytes()));
}

void printMemoryReportJson(const Program &P, llvm::raw_ostream &OS) {
  llvm::json::Object Root{
      {"model", P.Model.name()},
      {"cluster", P.Cluster.name()},
      {"schedule", std::string(scheduleName(P.Options.schedule()))},
  };
  if (!hasMemoryResults(P)) {
    Root["memory_results"] = false;
    Root["message"] = "the plan has no memory results; run 'pfc opt PLAN --passes=memory -o "
                      "PLAN' first";
    OS << llvm::formatv("{0:2}", llvm::json::Value(std::move(Root))) << "\n";
    return;
  }
  Root["memory_results"] = true;
  std::vector<DeviceMemory> Devices = collect(P);
  auto Fields = [](const DeviceMemory &D) {
    return llvm::json::Object{
        {"static_memory_bytes", D.Static}, {"activation_peak_bytes", D.Activations},
        {"peak_memory_bytes", D.Peak},     {"memory_capacity_bytes", D.Capacity},
        {"headroom_bytes", D.headroom()},
    };
  };
  llvm::json::Array Array;
  int64_t Over = 0;
  for (const DeviceMemory &D : Devices) {
    llvm::json::Object O = Fields(D);
    O["device"] = D.Device;
    O["node"] = D.Node;
    O["over_capacity"] = D.over();
    O["peak_inflight_microbatches"] = D.Inflight;
    if (const proto::KfacDeviceReport *R = kfacDevice(P, D.Device)) {
      O["kfac_factor_bytes"] = R->factor_bytes();
      O["kfac_saved_bytes"] = R->saved_bytes();
    }
    Over += D.over();
    Array.push_back(std::move(O));
  }
  Root["devices"] = std::move(Array);
  Root["total"] = Fields(total(Devices));
  Root["devices_over_capacity"] = Over;
  OS << llvm::formatv("{0:2}", llvm::json::Value(std::move(Root))) << "\n";
}

} // namespace pfc
