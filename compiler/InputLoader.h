//===- InputLoader.h - everything a user hands to pfc ----------------------===//
//
// Reads the model and cluster descriptions from protobuf text format
// (.textproto, .txtpb, .pbtxt) or JSON (.json), or from a preset embedded in
// the binary (e.g. "bert-large", "v100-dgx1"); a measured per-block profile
// in the PipeFisher CSV format; and plans given back to pfc opt and pfc-dump.
// It also holds the checks shared by the drivers for output paths and
// command-line errors.
//
// Every failure is a user error (Diagnostics.h, exit code 2) whose message
// names the file and the line/column (text format, CSV) or the field path
// (JSON), and says what would be valid. Nothing here writes a file.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_COMPILER_INPUTLOADER_H
#define PFC_COMPILER_INPUTLOADER_H

#include "cluster.pb.h"
#include "ir/Program.h"
#include "model.pb.h"
#include "plan.pb.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace pfc {

/// A model preset name or a file path.
llvm::Expected<proto::Model> loadModel(const std::string &NameOrPath);
/// A cluster preset name or a file path. With \p ForModel, also checks that
/// the device has a peak throughput for the model's precision.
llvm::Expected<proto::Cluster> loadCluster(const std::string &NameOrPath,
                                           const proto::Model *ForModel = nullptr);
/// The row of \p Path whose bs equals \p MicroBatchSize. Every row is
/// checked, not only that one.
llvm::Expected<proto::BlockProfile> loadProfile(const std::string &Path, int32_t MicroBatchSize);
/// What a plan's reader needs checked beyond its structure (ids, streams,
/// tasks): Schedule reads the tasks alone (dumps, the verifier); Costs also
/// uses the model, cluster and profile the plan carries, which then get the
/// checks of their own files (passes that cost work, pfc-run's model).
enum class PlanChecks { Schedule, Costs };

/// A plan file (.pb, .textproto or .json) converted to the IR; errors in a
/// text plan point at the offending field's line and column.
llvm::Expected<Program> loadPlan(const std::string &Path,
                                 PlanChecks Checks = PlanChecks::Costs);

/// Checks before any work that \p Path (given with \p Flag) can be written:
/// not a directory, and in an existing directory. "-" is standard output.
llvm::Error checkOutputPath(llvm::StringRef Path, llvm::StringRef Flag);

/// Rewrites llvm::cl's parse errors ("<tool>: <what>") as
/// "<tool>: error: <what>", one line per error.
std::string formatCommandLineErrors(llvm::StringRef Tool, llvm::StringRef Errors);

/// A cl::values parser whose error lists the valid values.
template <typename T> class ValuesParser : public llvm::cl::parser<T> {
public:
  using llvm::cl::parser<T>::parser;
  bool parse(llvm::cl::Option &O, llvm::StringRef ArgName, llvm::StringRef Arg, T &V) {
    llvm::StringRef Val = O.hasArgStr() ? Arg : ArgName;
    std::vector<std::string> Names;
    for (const auto &Info : this->Values) {
      if (Info.Name == Val) {
        V = Info.V.getValue();
        return false;
      }
      Names.push_back(Info.Name.str());
    }
    return O.error("unknown value '" + Val + "'; valid values: " + llvm::join(Names, ", "));
  }
};

/// Names of the embedded presets.
std::vector<std::string> modelPresets();
std::vector<std::string> clusterPresets();

} // namespace pfc

#endif
