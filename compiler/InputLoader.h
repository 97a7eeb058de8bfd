//===- InputLoader.h - model, cluster and profile inputs -------------------===//
//
// Reads the model and cluster descriptions from protobuf text format
// (.textproto, .txtpb, .pbtxt) or JSON (.json), or from a preset embedded in
// the binary (e.g. "bert-large", "v100-dgx1"), and a measured per-block
// profile from the PipeFisher CSV format. Every error names the file and the
// line/column or field, and says what would be valid.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_COMPILER_INPUTLOADER_H
#define PFC_COMPILER_INPUTLOADER_H

#include "cluster.pb.h"
#include "model.pb.h"
#include "plan.pb.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace pfc {

/// A model preset name or a file path.
llvm::Expected<proto::Model> loadModel(const std::string &NameOrPath);
/// A cluster preset name or a file path.
llvm::Expected<proto::Cluster> loadCluster(const std::string &NameOrPath);
/// The row of \p Path whose bs equals \p MicroBatchSize.
llvm::Expected<proto::BlockProfile> loadProfile(const std::string &Path, int32_t MicroBatchSize);

/// Names of the embedded presets.
std::vector<std::string> modelPresets();
std::vector<std::string> clusterPresets();

} // namespace pfc

#endif
