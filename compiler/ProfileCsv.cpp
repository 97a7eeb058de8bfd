//===- ProfileCsv.cpp - the PipeFisher per-block profile format ------------===//
//
// A header line naming the columns (bs, time_f, time_b, time_kron, time_inv,
// time_prec, mem_param, mem_act, mem_peak_err, mem_save_err, mem_kron, in any
// order; all required) and one row per micro-batch size. See
// shared/profiles/pipefisher/README.md for units.
//
//===----------------------------------------------------------------------===//
#include "InputLoader.h"

#include "ir/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <array>
#include <cmath>

namespace pfc {

llvm::Expected<proto::BlockProfile> loadProfile(const std::string &Path,
                                                int32_t MicroBatchSize) {
  auto Buf = llvm::MemoryBuffer::getFile(Path, /*IsText=*/true);
  if (!Buf)
    return userError("{}: error: cannot read profile: {}", Path, Buf.getError().message());
  static constexpr std::array<llvm::StringLiteral, 11> Columns = {
      "bs",       "time_f",  "time_b",       "time_kron",    "time_inv", "time_prec",
      "mem_param", "mem_act", "mem_peak_err", "mem_save_err", "mem_kron"};
  std::array<int, Columns.size()> Index;
  Index.fill(-1);

  llvm::SmallVector<llvm::StringRef, 16> Lines;
  (*Buf)->getBuffer().split(Lines, '\n');
  int LineNo = 0;
  bool HaveHeader = false;
  std::vector<int32_t> Sizes;
  for (llvm::StringRef Line : Lines) {
    ++LineNo;
    Line = Line.trim();
    if (Line.empty())
      continue;
    llvm::SmallVector<llvm::StringRef, 16> Cells;
    Line.split(Cells, ',');
    if (!HaveHeader) {
      for (size_t C = 0; C < Cells.size(); ++C)
        for (size_t K = 0; K < Columns.size(); ++K)
          if (Cells[C].trim() == Columns[K])
            Index[K] = static_cast<int>(C);
      for (size_t K = 0; K < Columns.size(); ++K)
        if (Index[K] < 0)
          return userError("{}:{}:1: error: profile header lacks column '{}'; expected the "
                           "columns {}",
                           Path, LineNo, Columns[K].str(), llvm::join(Columns, ","));
      HaveHeader = true;
      continue;
    }
    std::array<double, Columns.size()> Values;
    for (size_t K = 0; K < Columns.size(); ++K) {
      if (Index[K] >= static_cast<int>(Cells.size()))
        return userError("{}:{}: error: row has {} cells, column '{}' is missing", Path, LineNo,
                         Cells.size(), Columns[K].str());
      llvm::StringRef Cell = Cells[Index[K]].trim();
      int Col = 1;
      for (int C = 0; C < Index[K]; ++C)
        Col += static_cast<int>(Cells[C].size()) + 1;
      double V;
      if (Cell.getAsDouble(V) || !std::isfinite(V) || V < 0)
        return userError("{}:{}:{}: error: column '{}' must be a non-negative number, got '{}'",
                         Path, LineNo, Col, Columns[K].str(), Cell.str());
      Values[K] = V;
    }
    Sizes.push_back(static_cast<int32_t>(Values[0]));
    if (static_cast<int32_t>(Values[0]) != MicroBatchSize)
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
    return P;
  }
  if (!HaveHeader)
    return userError("{}: error: profile is empty; expected a CSV header and rows", Path);
  return userError("{}: error: no row for micro-batch size {} (the model's micro_batch_size); "
                   "rows exist for bs = {}",
                   Path, MicroBatchSize, llvm::join(llvm::map_range(Sizes, [](int32_t S) {
                                                      return std::to_string(S);
                                                    }),
                                                    ", "));
}

} // namespace pfc
