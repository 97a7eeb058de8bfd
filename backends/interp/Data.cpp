//===- Data.cpp - training data for pfc-run: a text corpus or a teacher ----===//
#include "Data.h"

#include "ir/Diagnostics.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

namespace pfc::interp {

std::vector<int32_t> byteTokens(std::string_view Text) {
  std::vector<int32_t> Out(Text.size());
  std::transform(Text.begin(), Text.end(), Out.begin(),
                 [](char C) { return static_cast<int32_t>(static_cast<unsigned char>(C)); });
  return Out;
}

Corpus splitCorpus(std::vector<int32_t> Tokens, double ValidFraction) {
  Corpus C;
  const size_t Cut = Tokens.size() - static_cast<size_t>(double(Tokens.size()) * ValidFraction);
  C.Valid.assign(Tokens.begin() + static_cast<std::ptrdiff_t>(Cut), Tokens.end());
  Tokens.resize(Cut);
  C.Train = std::move(Tokens);
  return C;
}

llvm::Expected<Corpus> loadCorpus(const std::string &Path, double ValidFraction, int32_t Seq) {
  std::vector<std::string> Files;
  if (llvm::sys::fs::is_directory(Path)) {
    std::error_code EC;
    for (llvm::sys::fs::directory_iterator It(Path, EC, /*FollowSymlinks=*/false), End;
         It != End && !EC; It.increment(EC))
      if (It->type() == llvm::sys::fs::file_type::regular_file)
        Files.push_back(It->path());
    std::sort(Files.begin(), Files.end());
  } else {
    Files.push_back(Path);
  }
  std::string Text;
  for (const std::string &F : Files) {
    auto Buf = llvm::MemoryBuffer::getFile(F);
    if (!Buf)
      return userError("{}: error: cannot read the corpus: {}", F, Buf.getError().message());
    Text += (*Buf)->getBuffer().str();
  }
  Corpus C = splitCorpus(byteTokens(Text), ValidFraction);
  C.Files = static_cast<int32_t>(Files.size());
  if (C.Valid.size() < static_cast<size_t>(Seq) + 1)
    return userError("{}: error: the corpus has {} bytes; windows of {} need at least {}", Path,
                     Text.size(), Seq + 1,
                     static_cast<size_t>(double(Seq + 1) / std::max(ValidFraction, 1e-3)) + 1);
  return C;
}

Batch corpusBatch(const std::vector<int32_t> &Tokens, int32_t Seq, uint64_t Seed, int64_t Index,
                  int32_t Sequences) {
  Rng R = Rng::derive(Seed, static_cast<uint64_t>(Index));
  const uint64_t Starts = Tokens.size() - static_cast<size_t>(Seq);
  Batch B;
  B.Sequences = Sequences;
  for (int32_t S = 0; S < Sequences; ++S) {
    const size_t At = static_cast<size_t>(R.below(static_cast<int64_t>(Starts)));
    B.Tokens.insert(B.Tokens.end(), Tokens.begin() + At, Tokens.begin() + At + Seq);
    B.Targets.insert(B.Targets.end(), Tokens.begin() + At + 1, Tokens.begin() + At + Seq + 1);
  }
  return B;
}

} // namespace pfc::interp
