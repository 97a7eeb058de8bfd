//===- Replicas.h - who holds a copy of a stage ----------------------------===//
//
// Gradient and K-FAC factor all-reduces run among the ranks that hold a copy
// of the same stage: the D data-parallel replicas, times two for Chimera's
// opposite pipeline. Replica r's device d is global rank r*S + d, and nodes
// hold gpus_per_node / T consecutive ranks (a plan device is a group of T
// GPUs under tensor parallelism).
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_REPLICAS_H
#define PFC_PASSES_REPLICAS_H

#include "ir/Program.h"

namespace pfc {

struct ReplicaGroup {
  int32_t Ranks = 1;      ///< members of the all-reduce
  bool CrossNode = false; ///< some member is on another node
};

/// Plan devices per node: gpus_per_node / tensor_parallel, at least 1.
int32_t planDevicesPerNode(const Program &P);

/// The all-reduce group of the stage on \p Device.
ReplicaGroup replicaGroup(const Program &P, int32_t Device);

} // namespace pfc

#endif
