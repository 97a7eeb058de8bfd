//===- Replicas.cpp - who holds a copy of a stage --------------------------===//
#include "Replicas.h"

#include <algorithm>

namespace pfc {

int32_t planDevicesPerNode(const Program &P) {
  return std::max(1, P.Cluster.gpus_per_node() / std::max(1, P.Options.tensor_parallel()));
}

ReplicaGroup replicaGroup(const Program &P, int32_t Device) {
  const int32_t S = P.numDevices();
  const int32_t D = std::max(1, P.Options.data_parallel());
  const int32_t Gpn = planDevicesPerNode(P);
  const int32_t Pipelines = std::max(1, P.numPipelines());
  ReplicaGroup G;
  G.Ranks = D * Pipelines;
  const int32_t FirstNode = Device / Gpn;
  for (int32_t R = 0; R < D; ++R)
    for (int32_t Pipe = 0; Pipe < Pipelines; ++Pipe) {
      int32_t Dev = Pipe == 0 ? Device : S - 1 - Device;
      G.CrossNode |= (R * S + Dev) / Gpn != FirstNode;
    }
  return G;
}

} // namespace pfc
