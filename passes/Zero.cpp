//===- Zero.cpp - ZeRO sharding: memory formulas and weight residency ------===//
#include "Zero.h"

#include "CostModel.h"
#include "Replicas.h"

#include <algorithm>

namespace pfc {

ZeroStatic zeroStaticBytes(int64_t Params, int64_t ElemBytes, int64_t OptimizerBytesPerParam,
                           int32_t Zero, int32_t Ranks) {
  const int64_t N = std::max(1, Ranks);
  ZeroStatic S;
  S.Params = Params * ElemBytes;
  S.Grads = Params * ElemBytes;
  S.Optimizer = Params * OptimizerBytesPerParam;
  if (Zero >= 1)
    S.Optimizer /= N;
  if (Zero >= 2)
    S.Grads /= N;
  if (Zero >= 3)
    S.Params /= N;
  return S;
}

int64_t deviceStaticBytes(const Program &P, const CostModel &Costs, int32_t Device) {
  const int64_t Elem = Costs.elementBytes();
  int64_t Params = 0;
  for (const Stage &St : P.Stages)
    if (St.Device == Device)
      Params += St.ParamBytes / Elem;
  const int64_t Optimizer = Costs.staticBytesPerParam() - 2 * Elem;
  return zeroStaticBytes(Params, Elem, Optimizer, P.Options.zero(),
                         replicaGroup(P, Device).Ranks)
      .total();
}

std::vector<StageRun> stageRuns(const Program &P, int32_t Device) {
  std::vector<StageRun> Runs;
  const auto &Stream = P.stream(Device, proto::COMPUTE);
  for (int32_t I = 0; I < static_cast<int32_t>(Stream.size()); ++I) {
    const Task &T = P.Tasks[Stream[I]];
    if (T.Kind != proto::FORWARD && T.Kind != proto::BACKWARD)
      continue;
    if (Runs.empty() || Runs.back().Stage != T.Stage)
      Runs.push_back(StageRun{T.Stage, I, I});
    Runs.back().Last = I;
  }
  return Runs;
}

int64_t zeroWorkingBytes(const Program &P, int32_t Device) {
  const int32_t Zero = P.Options.zero();
  if (Zero < 2)
    return 0;
  const auto &Stream = P.stream(Device, proto::COMPUTE);
  // Difference array over compute-stream positions: +bytes where an interval
  // opens, -bytes one past where it closes.
  std::vector<int64_t> Delta(Stream.size() + 1, 0);
  auto Live = [&](int32_t From, int32_t To, int64_t Bytes) {
    Delta[From] += Bytes;
    Delta[To + 1] -= Bytes;
  };
  // Full gradients: first backward of a stage to its last.
  std::vector<int32_t> FirstB(P.numStages(), -1), LastB(P.numStages(), -1);
  for (int32_t I = 0; I < static_cast<int32_t>(Stream.size()); ++I) {
    const Task &T = P.Tasks[Stream[I]];
    if (T.Kind != proto::BACKWARD)
      continue;
    if (FirstB[T.Stage] < 0)
      FirstB[T.Stage] = I;
    LastB[T.Stage] = I;
  }
  for (int32_t S = 0; S < P.numStages(); ++S)
    if (FirstB[S] >= 0)
      Live(FirstB[S], LastB[S], P.Stages[S].ParamBytes);
  // Gathered parameters: a run's from the start of the run before it (its
  // gather is prefetched then) to the run's end.
  if (Zero >= 3) {
    auto Runs = stageRuns(P, Device);
    for (size_t K = 0; K < Runs.size(); ++K)
      Live(K == 0 ? 0 : Runs[K - 1].First, Runs[K].Last, P.Stages[Runs[K].Stage].ParamBytes);
  }
  int64_t Sum = 0, Peak = 0;
  for (int64_t D : Delta)
    Peak = std::max(Peak, Sum += D);
  return Peak;
}

} // namespace pfc
