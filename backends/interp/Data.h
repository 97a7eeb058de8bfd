//===- Data.h - training data for pfc-run: a text corpus or a teacher ------===//
//
// Two sources of batches. The corpus is real English prose tokenised at byte
// level (token = byte value, vocabulary 256): by default the licence texts
// Debian's base-files package installs in /usr/share/common-licenses (about
// 260 KB, present on every Debian system, so no new dependency). Its first
// 90% is the training split, the last 10% the validation split, both
// contiguous so no window straddles them. A batch is Sequences windows of
// seq+1 bytes at positions drawn from the seed and the batch index; the
// targets are the tokens shifted by one. The teacher task is syntheticBatch
// (Model.h): a fixed random next-token map followed 80% of the time.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_DATA_H
#define PFC_BACKENDS_INTERP_DATA_H

#include "Model.h"

#include <string>

namespace pfc::interp {

inline constexpr const char *DefaultCorpus = "/usr/share/common-licenses";
inline constexpr int32_t ByteVocab = 256;

struct Corpus {
  std::vector<int32_t> Train, Valid;
  int32_t Files = 0;
};

/// Byte-level tokens of \p Text.
std::vector<int32_t> byteTokens(std::string_view Text);
/// Splits \p Tokens: the first (1 - ValidFraction) for training, the rest
/// for validation.
Corpus splitCorpus(std::vector<int32_t> Tokens, double ValidFraction);
/// Reads \p Path (a file, or every regular file of a directory in name
/// order; symbolic links skipped, they duplicate files) and splits it.
/// A user error when nothing readable or too little text is found for
/// windows of \p Seq + 1 tokens.
llvm::Expected<Corpus> loadCorpus(const std::string &Path, double ValidFraction, int32_t Seq);

/// Batch \p Index of \p Sequences windows from \p Tokens (deterministic in
/// \p Seed and \p Index).
Batch corpusBatch(const std::vector<int32_t> &Tokens, int32_t Seq, uint64_t Seed,
                  int64_t Index, int32_t Sequences);

} // namespace pfc::interp

#endif
