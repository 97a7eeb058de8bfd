//===- Presets.h - model and cluster descriptions built into pfc -----------===//
//
// The files under examples/models and examples/clusters, embedded at build
// time (cmake/EmbedPresets.cmake) so that `pfc compile --model bert-large`
// works without a checkout.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_COMPILER_PRESETS_H
#define PFC_COMPILER_PRESETS_H

#include <string>
#include <vector>

namespace pfc {

struct Preset {
  const char *Name;
  const char *Text;
};

/// Text of the preset, or nullptr.
const char *findModelPreset(const std::string &Name);
const char *findClusterPreset(const std::string &Name);

} // namespace pfc

#endif
