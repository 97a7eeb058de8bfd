//===- Partition.cpp - layers into stages, stages onto devices -------------===//
//
// Splits the model's layers (embedding, blocks, head) into S*V contiguous
// stages per pipeline and places stage i of a pipeline on device i mod S
// (Chimera's second pipeline runs the other way: device S-1-(i mod S)).
// UNIFORM gives every stage the same number of blocks (remainder to the
// first stages), with the embedding on the first stage and the head on the
// last; BALANCED minimises the slowest stage's forward+backward time.
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "Pass.h"
#include "Replicas.h"

#include "ir/Diagnostics.h"

#include <numeric>

namespace pfc {
namespace {

/// Stage boundaries (size N+1) of a contiguous split of \p Costs into N parts
/// minimising the largest part: binary search on the bottleneck, then greedy.
std::vector<int32_t> balancedSplit(const std::vector<double> &Costs, int32_t N) {
  int32_t L = static_cast<int32_t>(Costs.size());
  auto Cuts = [&](double Limit, std::vector<int32_t> *Out) {
    int32_t Parts = 1;
    double Sum = 0;
    if (Out)
      Out->assign(1, 0);
    for (int32_t I = 0; I < L; ++I) {
      // Leave at least one layer for each remaining part.
      bool MustCut = L - I == N - Parts;
      if ((Sum + Costs[I] > Limit && Sum > 0) || (MustCut && I > 0 && Parts < N)) {
        ++Parts;
        Sum = 0;
        if (Out)
          Out->push_back(I);
      }
      Sum += Costs[I];
    }
    if (Out)
      Out->push_back(L);
    return Parts;
  };
  double Lo = *std::max_element(Costs.begin(), Costs.end());
  double Hi = std::accumulate(Costs.begin(), Costs.end(), 0.0);
  for (int Iter = 0; Iter < 100 && Hi - Lo > 1e-9 * Hi; ++Iter) {
    double Mid = (Lo + Hi) / 2;
    (Cuts(Mid, nullptr) <= N ? Hi : Lo) = Mid;
  }
  std::vector<int32_t> Bounds;
  Cuts(Hi, &Bounds);
  while (static_cast<int32_t>(Bounds.size()) < N + 1) // fewer parts needed: split the tail
    Bounds.insert(Bounds.end() - 1, Bounds[Bounds.size() - 2] + 1);
  return Bounds;
}

std::vector<int32_t> uniformSplit(int32_t Blocks, int32_t N) {
  std::vector<int32_t> Bounds{0};
  int32_t Next = 1; // layer 0 is the embedding, on the first stage
  for (int32_t I = 0; I < N; ++I) {
    Next += Blocks / N + (I < Blocks % N ? 1 : 0);
    Bounds.push_back(I + 1 == N ? Blocks + 2 : Next);
  }
  return Bounds;
}

class PartitionPass : public Pass {
public:
  llvm::StringRef name() const override { return "partition"; }

  llvm::Expected<bool> run(Program &P) override {
    const auto &O = P.Options;
    const int32_t S = O.stages(), V = std::max(1, O.virtual_stages());
    const int32_t D = std::max(1, O.data_parallel());
    const int32_t Blocks = P.Model.num_layers();
    if (S < 1)
      return userError("pfc: error: --stages must be at least 1 (got {})", S);
    if (O.microbatches() < 1)
      return userError("pfc: error: --microbatches must be at least 1 (got {})",
                       O.microbatches());
    if (Blocks < S * V)
      return userError("pfc: error: the model has {} blocks, fewer than the {} stages "
                       "(--stages {} x --virtual-stages {}); use fewer stages",
                       Blocks, S * V, S, V);
    const auto &C = P.Cluster;
    const int32_t T = std::max(1, O.tensor_parallel());
    const int32_t Gpn = std::max(1, C.gpus_per_node());
    if (T > 1 && Gpn % T != 0)
      return userError("pfc: error: --tensor-parallel {} must divide the {} GPUs of a node of "
                       "cluster '{}' (a tensor-parallel group stays inside one node)",
                       T, Gpn, C.name());
    if (T > 1 && O.optimizer() == proto::KFAC)
      return userError("pfc: error: --optimizer kfac with --tensor-parallel {} is not "
                       "supported (K-FAC factors of sharded layers); use --tensor-parallel 1",
                       T);
    int64_t Available = static_cast<int64_t>(C.num_nodes()) * C.gpus_per_node();
    if (static_cast<int64_t>(S) * D * T > Available)
      return userError("pfc: error: --stages {} x --data-parallel {}{} needs {} devices, the "
                       "cluster '{}' has {} ({} nodes x {} GPUs)",
                       S, D, T > 1 ? fmt::format(" x --tensor-parallel {}", T) : "",
                       int64_t(S) * D * T, C.name(), Available, C.num_nodes(),
                       C.gpus_per_node());

    CostModel Costs(P);
    P.clearTasks();
    P.setNumDevices(S);
    for (int32_t I = 0; I < S; ++I)
      P.Devices[I] = Device{I / planDevicesPerNode(P),
                            static_cast<int64_t>(C.device().memory_gib() * (1ull << 30))};

    const int32_t PerPipeline = S * V;
    std::vector<int32_t> Bounds;
    if (O.partition() == proto::BALANCED) {
      std::vector<double> LayerMs;
      for (int32_t I = 0; I < Costs.numLayers(); ++I)
        LayerMs.push_back(Costs.layer(I).ForwardMs + Costs.layer(I).BackwardMs);
      Bounds = balancedSplit(LayerMs, PerPipeline);
    } else {
      Bounds = uniformSplit(Blocks, PerPipeline);
    }

    const int32_t Pipelines = O.schedule() == proto::CHIMERA ? 2 : 1;
    P.Stages.clear();
    for (int32_t Pipe = 0; Pipe < Pipelines; ++Pipe)
      for (int32_t I = 0; I < PerPipeline; ++I) {
        Stage St;
        St.Pipeline = Pipe;
        St.Position = I;
        St.Device = Pipe == 0 ? I % S : S - 1 - I % S;
        St.LayerBegin = Bounds[I];
        St.LayerEnd = Bounds[I + 1];
        for (int32_t L = St.LayerBegin; L < St.LayerEnd; ++L) {
          const LayerCost &LC = Costs.layer(L);
          St.ForwardMs += LC.ForwardMs;
          St.BackwardMs += LC.BackwardMs;
          St.ParamBytes += LC.ParamBytes;
          St.ActivationBytes += LC.ActivationBytes;
        }
        St.OutputBytes = Costs.layer(St.LayerEnd - 1).OutputBytes;
        P.Stages.push_back(St);
      }
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createPartitionPass() { return std::make_unique<PartitionPass>(); }

} // namespace pfc
