//===- DataTest.cpp - byte tokenisation, corpus split and batches ----------===//
#include "backends/interp/Data.h"

#include "llvm/Support/FileSystem.h"

#include <doctest/doctest.h>

using namespace pfc::interp;

TEST_CASE("byte tokens are the bytes' unsigned values") {
  CHECK(byteTokens("Ab\n\xff") == std::vector<int32_t>{65, 98, 10, 255});
  CHECK(byteTokens("").empty());
}

TEST_CASE("the split keeps order: training first, validation last") {
  std::vector<int32_t> T(100);
  for (int32_t I = 0; I < 100; ++I)
    T[static_cast<size_t>(I)] = I;
  Corpus C = splitCorpus(T, 0.1);
  REQUIRE(C.Train.size() == 90);
  REQUIRE(C.Valid.size() == 10);
  CHECK(C.Train.back() == 89);
  CHECK(C.Valid.front() == 90);
}

TEST_CASE("corpus batches: windows of the text, targets shifted by one, reproducible") {
  std::vector<int32_t> T = byteTokens("the quick brown fox jumps over the lazy dog");
  Batch B = corpusBatch(T, 5, 7, 3, 4);
  REQUIRE(B.Sequences == 4);
  REQUIRE(B.Tokens.size() == 20);
  for (size_t S = 0; S < 4; ++S)
    for (size_t I = 0; I + 1 < 5; ++I)
      CHECK(B.Targets[S * 5 + I] == B.Tokens[S * 5 + I + 1]);
  CHECK(corpusBatch(T, 5, 7, 3, 4).Tokens == B.Tokens);
  CHECK(corpusBatch(T, 5, 7, 4, 4).Tokens != B.Tokens);
}

TEST_CASE("the default corpus loads when base-files' licences are installed") {
  if (!llvm::sys::fs::is_directory(DefaultCorpus))
    return;
  auto C = loadCorpus(DefaultCorpus, 0.1, 32);
  REQUIRE(static_cast<bool>(C));
  CHECK(C->Files > 5);
  CHECK(C->Train.size() > 100000);
  CHECK(C->Valid.size() * 9 <= C->Train.size() + 9);
}

TEST_CASE("a missing corpus is a user error") {
  auto C = loadCorpus("/nonexistent/corpus.txt", 0.1, 8);
  CHECK(!C);
  llvm::consumeError(C.takeError());
}
