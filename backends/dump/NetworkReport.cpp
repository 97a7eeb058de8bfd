//===- NetworkReport.cpp - traffic per device and the bandwidth needed ----===//
//
// Bytes each device sends and receives per step, pipeline point-to-point
// (send/receive tasks) and data-parallel (ring collectives: an all-reduce of
// X bytes among n ranks sends and receives 2(n-1)/n X per rank, a
// reduce-scatter or all-gather (n-1)/n X; K-FAC factor all-reduces once per
// refresh cycle, counted per step). Then the bandwidth below which
// communication stops being hidden, found by re-simulation: every
// communication task's duration is multiplied by a factor s (the link
// bandwidth divided by s, latency included) and the step time compared with
// the step at s = 0 (free communication); s* is the largest s that keeps it
// within 1%, and the bandwidth needed is the cluster's link bandwidth / s*.
// Done for pipeline and data-parallel traffic separately (the other kind at
// its real cost) and for both together.
//
//===----------------------------------------------------------------------===//
#include "Dumps.h"

#include "llvm/Support/JSON.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace pfc {
namespace {

bool isP2p(TaskKind K) {
  return defaultStream(K) == proto::SEND || defaultStream(K) == proto::RECV;
}
bool isCollective(TaskKind K) { return defaultStream(K) == proto::COLLECTIVE; }

struct Traffic {
  double P2pSent = 0, P2pRecv = 0, DpSent = 0, DpRecv = 0;
};

int32_t replicaRanks(const Program &P) {
  const int32_t Pipelines = std::max(1, P.numPipelines());
  return std::max(1, P.Options.data_parallel()) * Pipelines;
}

std::vector<Traffic> traffic(const Program &P) {
  std::vector<Traffic> Out(P.numDevices());
  const double N = replicaRanks(P);
  const double Cycle = std::max(1, P.Time.CycleSteps);
  for (const Task &T : P.Tasks) {
    Traffic &D = Out[T.Device];
    const double B = static_cast<double>(T.Bytes);
    switch (T.Kind) {
    case proto::SEND_ACTIVATION:
    case proto::SEND_GRADIENT: D.P2pSent += B; break;
    case proto::RECV_ACTIVATION:
    case proto::RECV_GRADIENT: D.P2pRecv += B; break;
    case proto::ALL_REDUCE:
    case proto::FACTOR_ALL_REDUCE: {
      double Wire = 2 * (N - 1) / N * B / (T.Kind == proto::FACTOR_ALL_REDUCE ? Cycle : 1);
      D.DpSent += Wire;
      D.DpRecv += Wire;
      break;
    }
    case proto::REDUCE_SCATTER:
    case proto::ALL_GATHER:
      D.DpSent += (N - 1) / N * B;
      D.DpRecv += (N - 1) / N * B;
      break;
    default: break;
    }
  }
  return Out;
}

/// \p P with every pipeline communication task \p P2p times as long and every
/// collective \p Dp times.
Program scaled(const Program &P, double P2p, double Dp) {
  Program Q = P;
  for (Task &T : Q.Tasks)
    T.DurationMs *= isP2p(T.Kind) ? P2p : isCollective(T.Kind) ? Dp : 1.0;
  return Q;
}

/// Slowdown over free communication still called hidden: the reduction
/// after the last backward (and ZeRO-1/2's gather after the optimizer step)
/// is exposed at any bandwidth, so a zero tolerance would call nothing hidden.
constexpr double Tolerance = 0.01;

/// Largest factor s on the chosen kinds that keeps the step within 1% of
/// the step without that communication; infinity when no factor up to 1e6
/// shows, 0 when even a tiny one does.
double hiddenFactor(const Program &P, const StepTimeFn &Step, bool P2p, bool Dp) {
  auto At = [&](double S) { return Step(scaled(P, P2p ? S : 1.0, Dp ? S : 1.0)); };
  const double Base = At(0.0) * (1 + Tolerance) + 1e-9;
  double Lo = 0, Hi = 1;
  if (At(Hi) <= Base) {
    while (At(Hi) <= Base) {
      Lo = Hi;
      Hi *= 4;
      if (Hi > 1e6)
        return INFINITY;
    }
  }
  for (int I = 0; I < 40 && Hi - Lo > 1e-4 * Hi; ++I) {
    double Mid = (Lo + Hi) / 2;
    (At(Mid) <= Base ? Lo : Hi) = Mid;
  }
  return Lo;
}

std::string gbps(double LinkGBps, double Factor) {
  if (std::isinf(Factor))
    return "any";
  if (Factor <= 0)
    return "unbounded";
  return fmt::format("{:.2f}", LinkGBps / Factor);
}

} // namespace

void printNetworkReport(const Program &P, const StepTimeFn &Step, bool Json,
                        llvm::raw_ostream &OS) {
  std::vector<Traffic> T = traffic(P);
  const double Intra = P.Cluster.intra_node().bandwidth_gbps();
  const double Inter = P.Cluster.inter_node().bandwidth_gbps();
  struct Row {
    const char *Name;
    double Factor;
  };
  const Row Rows[] = {{"pipeline", hiddenFactor(P, Step, true, false)},
                      {"data-parallel", hiddenFactor(P, Step, false, true)},
                      {"all", hiddenFactor(P, Step, true, true)}};
  const double Free = Step(scaled(P, 0, 0)), Real = Step(P);
  if (Json) {
    llvm::json::Array Devices, Needed;
    for (int32_t D = 0; D < P.numDevices(); ++D)
      Devices.push_back(llvm::json::Object{{"device", D},
                                           {"p2p_sent_bytes", T[D].P2pSent},
                                           {"p2p_received_bytes", T[D].P2pRecv},
                                           {"dp_sent_bytes", T[D].DpSent},
                                           {"dp_received_bytes", T[D].DpRecv}});
    for (const Row &R : Rows) {
      llvm::json::Object O{{"traffic", R.Name}};
      if (std::isfinite(R.Factor)) {
        O["hidden_scale"] = R.Factor;
        O["intra_node_gbps"] = R.Factor > 0 ? Intra / R.Factor : INFINITY;
        O["inter_node_gbps"] = R.Factor > 0 ? Inter / R.Factor : INFINITY;
      }
      Needed.push_back(std::move(O));
    }
    OS << llvm::formatv("{0:2}", llvm::json::Value(llvm::json::Object{
                                     {"step_time_ms", Real},
                                     {"step_time_ms_free_comm", Free},
                                     {"method", "re-simulation with scaled communication"},
                                     {"devices", std::move(Devices)},
                                     {"bandwidth_needed", std::move(Needed)}}))
       << "\n";
    return;
  }
  auto Mb = [](double B) { return fmt::format("{:.1f}", B / 1e6); };
  OS << fmt::format("network: bytes per step and device (MB = 1e6 bytes)\n");
  OS << fmt::format("{:>6} {:>12} {:>12} {:>12} {:>12}\n", "device", "p2p sent", "p2p recv",
                    "dp sent", "dp recv");
  Traffic Sum;
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    OS << fmt::format("{:>6} {:>12} {:>12} {:>12} {:>12}\n", D, Mb(T[D].P2pSent),
                      Mb(T[D].P2pRecv), Mb(T[D].DpSent), Mb(T[D].DpRecv));
    Sum.P2pSent += T[D].P2pSent;
    Sum.DpSent += T[D].DpSent;
  }
  OS << fmt::format("total sent: p2p {} MB, data-parallel {} MB\n", Mb(Sum.P2pSent),
                    Mb(Sum.DpSent));
  OS << fmt::format("step time: {:.3f} ms, {:.3f} ms with free communication ({:+.2f}%)\n",
                    Real, Free, Free > 0 ? 100 * (Real / Free - 1) : 0.0);
  OS << "bandwidth below which communication stops being hidden (step within 1% of free "
        "communication; re-simulated):\n";
  OS << fmt::format("  {:<14} {:>10} {:>16} {:>16}\n", "traffic", "scale s*", "intra GB/s",
                    "inter GB/s");
  for (const Row &R : Rows)
    OS << fmt::format("  {:<14} {:>10} {:>16} {:>16}\n", R.Name,
                      std::isinf(R.Factor) ? std::string("inf") : fmt::format("{:.3f}", R.Factor),
                      gbps(Intra, R.Factor), gbps(Inter, R.Factor));
  OS << fmt::format("  (links: intra-node {:.1f} GB/s, inter-node {:.1f} GB/s; s* < 1: already "
                    "exposed)\n",
                    Intra, Inter);
}

} // namespace pfc
