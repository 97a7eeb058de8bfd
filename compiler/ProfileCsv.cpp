//===- ProfileCsv.cpp - the PipeFisher per-block profile format ------------===//
//
// A header line naming the columns (bs, time_f, time_b, time_kron, time_inv,
// time_prec, mem_param, mem_act, mem_peak_err, mem_save_err, mem_kron, in any
// order; all required; other columns are ignored) and one row per micro-batch
// size. See shared/profiles/pipefisher/README.md for units. pfc's optional
// extension columns (time_f_embed, time_b_embed, time_f_head, time_b_head,
// time_opt; docs/inputs.md) carry the embedding, head and optimizer-step
// costs that PipeFisher's files leave to the analytic model; the two columns
// of a layer come together. Every row is
// checked, so a damaged file is reported even when the row in use is intact;
// errors point at the line and column of the offending cell.
//
//===----------------------------------------------------------------------===//
#include "InputLoader.h"

#include "ir/Diagnostics.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <array>
#include <cmath>
#include <map>
#include <optional>

namespace pfc {

namespace {

constexpr std::array<llvm::StringLiteral, 16> Columns = {
    "bs",           "time_f",       "time_b",       "time_kron",   "time_inv",
    "time_prec",    "mem_param",    "mem_act",      "mem_peak_err", "mem_save_err",
    "mem_kron",     "time_f_embed", "time_b_embed", "time_f_head", "time_b_head",
    "time_opt"};
/// Columns before this index are PipeFisher's and required; the rest are
/// pfc's optional extension.
constexpr size_t Required = 11;

/// One comma-separated cell: its text without surrounding blanks and the
/// 1-based column where that text starts.
struct Cell {
  llvm::StringRef Text;
  int Column;
};

std::vector<Cell> splitCells(llvm::StringRef Line) {
  std::vector<Cell> Cells;
  size_t Start = 0;
  while (true) {
    size_t End = Line.find(',', Start);
    llvm::StringRef Raw = Line.slice(Start, End);
    size_t Lead = Raw.size() - Raw.ltrim().size();
    Cells.push_back({Raw.trim(), static_cast<int>(Start + Lead + 1)});
    if (End == llvm::StringRef::npos)
      break;
    Start = End + 1;
  }
  return Cells;
}

} // namespace

llvm::Expected<proto::BlockProfile> loadProfile(const std::string &Path, int32_t MicroBatchSize) {
  const auto Base = llvm::ArrayRef(Columns).take_front(Required);
  const std::string Expected = "a CSV in the PipeFisher format: a header " +
                               llvm::join(Base, ",") + " and one row per micro-batch size";
  if (llvm::sys::fs::is_directory(Path))
    return userError("{}: error: is a directory, not a profile; give {}", Path, Expected);
  auto Buf = llvm::MemoryBuffer::getFile(Path, /*IsText=*/true);
  if (!Buf)
    return userError("{}: error: cannot read profile: {}; give {}", Path, Buf.getError().message(),
                     Expected);
  llvm::StringRef Data = (*Buf)->getBuffer();
  Data.consume_front("\xEF\xBB\xBF"); // a UTF-8 byte-order mark from a spreadsheet

  std::array<int, Columns.size()> Index;
  Index.fill(-1);
  size_t HeaderCells = 0;
  bool HaveHeader = false;
  std::map<int32_t, int> RowOfSize; // micro-batch size -> line
  std::optional<proto::BlockProfile> Found;

  llvm::SmallVector<llvm::StringRef, 16> Lines;
  Data.split(Lines, '\n');
  int LineNo = 0;
  for (llvm::StringRef Line : Lines) {
    ++LineNo;
    Line = Line.rtrim("\r");
    if (Line.trim().empty())
      continue;
    std::vector<Cell> Cells = splitCells(Line);
    if (!HaveHeader) {
      for (size_t C = 0; C < Cells.size(); ++C)
        for (size_t K = 0; K < Columns.size(); ++K) {
          if (Cells[C].Text != Columns[K])
            continue;
          if (Index[K] >= 0)
            return userError("{}:{}:{}: error: column '{}' appears twice in the header (also "
                             "at column {})",
                             Path, LineNo, Cells[C].Column, Columns[K].str(),
                             Cells[Index[K]].Column);
          Index[K] = static_cast<int>(C);
        }
      for (size_t K = 0; K < Required; ++K)
        if (Index[K] < 0)
          return userError("{}:{}:1: error: profile header lacks column '{}'; expected the "
                           "columns {}",
                           Path, LineNo, Columns[K].str(), llvm::join(Base, ","));
      for (size_t K = Required; K + 2 < Columns.size(); K += 2)
        if ((Index[K] < 0) != (Index[K + 1] < 0))
          return userError("{}:{}:1: error: profile header has column '{}' without '{}'; give "
                           "both or neither",
                           Path, LineNo, Columns[Index[K] < 0 ? K + 1 : K].str(),
                           Columns[Index[K] < 0 ? K : K + 1].str());
      HeaderCells = Cells.size();
      HaveHeader = true;
      continue;
    }
    if (Cells.size() != HeaderCells)
      return userError("{}:{}:{}: error: row has {} cells, the header has {}", Path, LineNo,
                       Cells.size() < HeaderCells ? static_cast<int>(Line.size()) + 1
                                                  : Cells[HeaderCells].Column,
                       Cells.size(), HeaderCells);
    std::array<double, Columns.size()> Values;
    for (size_t K = 0; K < Columns.size(); ++K) {
      if (Index[K] < 0)
        continue;
      const Cell &C = Cells[Index[K]];
      double V;
      if (C.Text.getAsDouble(V) || !std::isfinite(V) || V < 0)
        return userError("{}:{}:{}: error: column '{}' must be a non-negative number, got '{}'",
                         Path, LineNo, C.Column, Columns[K].str(), C.Text.str());
      Values[K] = V;
    }
    const Cell &BsCell = Cells[Index[0]];
    if (Values[0] < 1 || Values[0] > (1 << 16) || Values[0] != std::floor(Values[0]))
      return userError("{}:{}:{}: error: column 'bs' must be a micro-batch size, a positive "
                       "integer, got '{}'",
                       Path, LineNo, BsCell.Column, BsCell.Text.str());
    int32_t Size = static_cast<int32_t>(Values[0]);
    if (auto [It, New] = RowOfSize.try_emplace(Size, LineNo); !New)
      return userError("{}:{}:{}: error: a second row for bs {} (the first is on line {}); keep "
                       "one row per micro-batch size",
                       Path, LineNo, BsCell.Column, Size, It->second);
    if (Size != MicroBatchSize)
      continue;
    proto::BlockProfile P;
    P.set_source(Path);
    P.set_micro_batch_size(MicroBatchSize);
    P.set_forward_ms(Values[1]);
    P.set_backward_ms(Values[2]);
    P.set_kron_ms(Values[3]);
    P.set_inv_ms(Values[4]);
    P.set_prec_ms(Values[5]);
    P.set_param_mib(Values[6]);
    P.set_act_mib(Values[7]);
    P.set_peak_err_mib(Values[8]);
    P.set_save_err_mib(Values[9]);
    P.set_kron_mib(Values[10]);
    if (Index[11] >= 0) {
      P.mutable_embedding()->set_forward_ms(Values[11]);
      P.mutable_embedding()->set_backward_ms(Values[12]);
    }
    if (Index[13] >= 0) {
      P.mutable_head()->set_forward_ms(Values[13]);
      P.mutable_head()->set_backward_ms(Values[14]);
    }
    if (Index[15] >= 0)
      P.set_optimizer_ms(Values[15]);
    Found = std::move(P);
  }
  if (!HaveHeader)
    return userError("{}: error: profile is empty; give {}", Path, Expected);
  if (RowOfSize.empty())
    return userError("{}: error: profile has a header but no rows; give {}", Path, Expected);
  if (!Found)
    return userError(
        "{}: error: no row for micro-batch size {} (the model's "
        "micro_batch_size); rows exist for bs {}; set the model's "
        "micro_batch_size to one of them",
        Path, MicroBatchSize,
        llvm::join(
            llvm::map_range(RowOfSize, [](const auto &KV) { return std::to_string(KV.first); }),
            ", "));
  return std::move(*Found);
}

} // namespace pfc
