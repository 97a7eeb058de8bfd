//===- DataParallel.cpp - a plan's data-parallel replicas made explicit -----===//
#include "DataParallel.h"

#include "ZeroCollectives.h"

#include <algorithm>

namespace pfc::interp {

llvm::Expected<Program> expandDataParallel(const Program &P) {
  if (llvm::Expected<ZeroPlan> Z = analyzeZeroPlan(P); !Z)
    return Z.takeError();
  const int32_t D = std::max(1, P.Options.data_parallel());
  if (D == 1)
    return P;
  const int32_t S = P.numDevices(), Stages = P.numStages(), Tasks = P.numTasks();
  const int32_t N = P.Options.microbatches();
  const int32_t Pipelines = std::max(1, P.numPipelines());

  Program Out;
  Out.Model = P.Model;
  Out.Cluster = P.Cluster;
  Out.Options = P.Options;
  Out.Options.set_data_parallel(1);
  Out.Options.set_microbatches(N * D);
  Out.Kfac = P.Kfac;
  Out.setNumDevices(S * D);
  Out.Time.Simulated = P.Time.Simulated;
  Out.Time.StepTimeMs = P.Time.StepTimeMs;
  Out.Time.BubbleFraction = P.Time.BubbleFraction;
  Out.Time.CycleSteps = P.Time.CycleSteps;
  Out.Tasks.reserve(static_cast<size_t>(Tasks) * D);
  Out.Edges.reserve(P.Edges.size() * D);
  for (int32_t R = 0; R < D; ++R) {
    for (int32_t Dev = 0; Dev < S; ++Dev)
      Out.Devices[R * S + Dev] = P.Devices[Dev];
    for (Stage St : P.Stages) {
      St.Device += R * S;
      St.Pipeline += R * Pipelines;
      Out.Stages.push_back(St);
    }
    for (Task Tk : P.Tasks) {
      Tk.Device += R * S;
      if (Tk.Stage >= 0)
        Tk.Stage += R * Stages;
      if (Tk.Microbatch >= 0)
        Tk.Microbatch += R * N;
      if (Tk.Peer != NoTask)
        Tk.Peer += R * Tasks;
      Out.Tasks.push_back(Tk);
    }
    for (auto [From, To] : P.Edges)
      Out.Edges.emplace_back(From + R * Tasks, To + R * Tasks);
    for (int32_t Dev = 0; Dev < S; ++Dev)
      for (int K = 0; K < NumStreams; ++K) {
        const auto Kind = static_cast<StreamKind>(K);
        std::vector<TaskId> &Stream = Out.stream(R * S + Dev, Kind);
        for (TaskId T : P.stream(Dev, Kind))
          Stream.push_back(T + R * Tasks);
      }
    if (P.Time.Simulated) {
      Out.Time.Start.insert(Out.Time.Start.end(), P.Time.Start.begin(), P.Time.Start.end());
      Out.Time.End.insert(Out.Time.End.end(), P.Time.End.begin(), P.Time.End.end());
    }
  }
  return Out;
}

} // namespace pfc::interp
