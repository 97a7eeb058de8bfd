//===- InputLoader.cpp - model, cluster and profile inputs -----------------===//
#include "InputLoader.h"

#include "Presets.h"
#include "backends/PlanIO.h"
#include "ir/Diagnostics.h"

#include <google/protobuf/text_format.h>

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

namespace pfc {

namespace {

namespace pb = google::protobuf;

/// Where a field was written, for semantic errors: "file:line:col" or "file".
struct Located {
  std::string File;
  pb::TextFormat::ParseInfoTree Tree;
  std::string at(const pb::Message &M, const char *Field, const pb::TextFormat::ParseInfoTree *T) const {
    const pb::FieldDescriptor *F = M.GetDescriptor()->FindFieldByName(Field);
    if (T && F) {
      pb::TextFormat::ParseLocation L = T->GetLocation(F, -1);
      if (L.line >= 0)
        return fmt::format("{}:{}:{}", File, L.line + 1, L.column + 1);
    }
    return File;
  }
};

llvm::Error parseInto(pb::Message &Msg, llvm::StringRef Text, const std::string &File,
                      Located &Loc) {
  Loc.File = File;
  if (llvm::StringRef(File).endswith(".json"))
    return parseJsonProto(Text, File, Msg);
  return parseTextProto(Text, File, Msg, &Loc.Tree);
}

/// Reads a preset or a file into \p Msg.
llvm::Error readInput(const std::string &NameOrPath, pb::Message &Msg, Located &Loc,
                      bool IsModel) {
  if (const char *Text = IsModel ? findModelPreset(NameOrPath) : findClusterPreset(NameOrPath))
    return parseInto(Msg, Text, "<preset " + NameOrPath + ">", Loc);
  auto Buf = llvm::MemoryBuffer::getFile(NameOrPath, /*IsText=*/true);
  if (!Buf) {
    auto Names = IsModel ? modelPresets() : clusterPresets();
    return userError("{}: error: cannot read {} file: {}; give a .textproto or .json file, or "
                     "a preset: {}",
                     NameOrPath, IsModel ? "model" : "cluster", Buf.getError().message(),
                     llvm::join(Names, ", "));
  }
  return parseInto(Msg, (*Buf)->getBuffer(), NameOrPath, Loc);
}

template <typename T>
llvm::Error positive(const Located &L, const pb::Message &M, const char *Field, T Value,
                     const pb::TextFormat::ParseInfoTree *Tree, const char *Hint = "") {
  if (Value > 0)
    return llvm::Error::success();
  return userError("{}: error: {}.{} must be positive (got {}){}", L.at(M, Field, Tree),
                   M.GetDescriptor()->name(), Field, Value, Hint);
}

} // namespace

llvm::Expected<proto::Model> loadModel(const std::string &NameOrPath) {
  proto::Model M;
  Located L;
  if (llvm::Error E = readInput(NameOrPath, M, L, true))
    return std::move(E);
  const auto *T = &L.Tree;
  for (auto [Field, Value] : {std::pair{"num_layers", M.num_layers()},
                              {"hidden_size", M.hidden_size()},
                              {"num_heads", M.num_heads()},
                              {"seq_length", M.seq_length()},
                              {"vocab_size", M.vocab_size()},
                              {"micro_batch_size", M.micro_batch_size()}})
    if (llvm::Error E = positive(L, M, Field, Value, T))
      return std::move(E);
  if (M.ffn_size() < 0)
    return userError("{}: error: Model.ffn_size must be positive, or 0 for 4 x hidden_size "
                     "(got {})",
                     L.at(M, "ffn_size", T), M.ffn_size());
  if (M.hidden_size() % M.num_heads() != 0)
    return userError("{}: error: Model.num_heads ({}) must divide hidden_size ({})",
                     L.at(M, "num_heads", T), M.num_heads(), M.hidden_size());
  if (M.linear_layers_per_block() < 0)
    return userError("{}: error: Model.linear_layers_per_block must be >= 0 (got {})",
                     L.at(M, "linear_layers_per_block", T), M.linear_layers_per_block());
  return M;
}

llvm::Expected<proto::Cluster> loadCluster(const std::string &NameOrPath) {
  proto::Cluster C;
  Located L;
  if (llvm::Error E = readInput(NameOrPath, C, L, false))
    return std::move(E);
  const auto *T = &L.Tree;
  if (llvm::Error E = positive(L, C, "num_nodes", C.num_nodes(), T))
    return std::move(E);
  if (llvm::Error E = positive(L, C, "gpus_per_node", C.gpus_per_node(), T))
    return std::move(E);
  if (!C.has_device())
    return userError("{}: error: Cluster.device is missing; give the device's peak TFLOP/s, "
                     "memory and bandwidth",
                     L.File);
  const auto *DT = T->GetTreeForNested(C.GetDescriptor()->FindFieldByName("device"), -1);
  const auto &D = C.device();
  if (llvm::Error E = positive(L, D, "memory_gib", D.memory_gib(), DT))
    return std::move(E);
  if (llvm::Error E = positive(L, D, "memory_bandwidth_gbps", D.memory_bandwidth_gbps(), DT))
    return std::move(E);
  if (D.peak_tflops_fp16() <= 0 && D.peak_tflops_fp32() <= 0)
    return userError("{}: error: DeviceSpec needs peak_tflops_fp16 or peak_tflops_fp32 > 0",
                     L.at(D, "peak_tflops_fp16", DT));
  if (D.compute_efficiency() < 0 || D.compute_efficiency() > 1)
    return userError("{}: error: DeviceSpec.compute_efficiency must be in (0, 1], or 0 for "
                     "0.5 (got {})",
                     L.at(D, "compute_efficiency", DT), D.compute_efficiency());
  for (auto [Link, Spec] : {std::pair{"intra_node", &C.intra_node()},
                            std::pair{"inter_node", &C.inter_node()}}) {
    const auto *LT = T->GetTreeForNested(C.GetDescriptor()->FindFieldByName(Link), -1);
    if (Spec->bandwidth_gbps() <= 0)
      return userError("{}: error: Cluster.{}.bandwidth_gbps must be positive (got {})",
                       L.at(*Spec, "bandwidth_gbps", LT), Link, Spec->bandwidth_gbps());
    if (Spec->latency_us() < 0)
      return userError("{}: error: Cluster.{}.latency_us must be >= 0 (got {})",
                       L.at(*Spec, "latency_us", LT), Link, Spec->latency_us());
  }
  return C;
}

} // namespace pfc
