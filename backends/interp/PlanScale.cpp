//===- PlanScale.cpp - a plan's stage structure with fewer blocks ----------===//
#include "PlanScale.h"

#include "ir/Diagnostics.h"

#include <map>

namespace pfc::interp {

llvm::Error scaleStages(Program &P, int32_t BlocksPerStage) {
  const int32_t Blocks = P.Model.num_layers();
  auto BlocksIn = [&](int32_t Begin, int32_t End) {
    return std::max(0, std::min(End, Blocks + 1) - std::max(Begin, 1));
  };
  // Old range -> new range, in layer order (ranges of a valid plan tile the layers).
  std::map<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>> Ranges;
  for (const Stage &St : P.Stages)
    Ranges[{St.LayerBegin, St.LayerEnd}] = {};
  bool HasKfac = false;
  for (const Task &Tk : P.Tasks)
    HasKfac |= isCycleTask(Tk.Kind);
  int32_t Next = 0;
  for (auto &[Old, New] : Ranges) {
    const int32_t Own = BlocksIn(Old.first, Old.second);
    if (HasKfac && BlocksPerStage > Own && Own > 0)
      return userError("pfc-run: error: --layers-per-stage {} exceeds the {} blocks of layers "
                       "[{}, {}) in this K-FAC plan; it can only shrink stages",
                       BlocksPerStage, Own, Old.first, Old.second);
    const int32_t Count = (Own > 0 ? BlocksPerStage : 0) + (Old.first == 0) +
                          (Old.second == Blocks + 2);
    New = {Next, Next + Count};
    Next += Count;
  }
  const int32_t NewBlocks = Next - 2;
  for (Task &Tk : P.Tasks) {
    if (Tk.Layer < 0)
      continue;
    const Stage &St = P.Stages[Tk.Stage];
    const auto &New = Ranges[{St.LayerBegin, St.LayerEnd}];
    // The first BlocksPerStage blocks of the stage remain; a task over
    // several blocks keeps those of its blocks among them.
    const int32_t Index = Tk.Layer - std::max(St.LayerBegin, 1);
    Tk.Layer = Index < BlocksPerStage ? std::max(New.first, 1) + Index : -1;
    if (Tk.Layer >= 0)
      Tk.LayerCount =
          static_cast<int16_t>(std::min<int32_t>(Tk.LayerCount, BlocksPerStage - Index));
  }
  for (Stage &St : P.Stages)
    std::tie(St.LayerBegin, St.LayerEnd) = Ranges[{St.LayerBegin, St.LayerEnd}];
  P.Model.set_num_layers(NewBlocks);
  return llvm::Error::success();
}

} // namespace pfc::interp
