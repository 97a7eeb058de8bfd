//===- DataParallelSync.cpp - gradient all-reduce and optimizer step -------===//
//
// After a stage's last backward on its device, its gradients are all-reduced
// across the ranks holding a replica of it (the D data-parallel replicas, and
// for Chimera also the opposite pipeline's copy) on the COLLECTIVE stream;
// then the stage's optimizer step runs on the compute stream. With a single
// replica there is no all-reduce.
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "Pass.h"
#include "Replicas.h"

#include <algorithm>

namespace pfc {
namespace {

class DataParallelSyncPass : public Pass {
public:
  llvm::StringRef name() const override { return "dp-sync"; }

  llvm::Expected<bool> run(Program &P) override {
    if (P.numTasks() == 0)
      return false;
    P.clearResults();
    CostModel Costs(P);
    const int32_t S = P.numDevices();

    // The last backward of each stage in its device's compute order.
    std::vector<TaskId> LastBackward(P.numStages(), NoTask);
    std::vector<int32_t> Order(P.numStages(), -1);
    for (int32_t Dev = 0; Dev < S; ++Dev) {
      const auto &Stream = P.stream(Dev, proto::COMPUTE);
      for (int32_t I = 0; I < static_cast<int32_t>(Stream.size()); ++I) {
        const Task &T = P.Tasks[Stream[I]];
        if (T.Kind == proto::BACKWARD) {
          LastBackward[T.Stage] = Stream[I];
          Order[T.Stage] = I;
        }
      }
    }
    std::vector<int32_t> ByCompletion(P.numStages());
    for (int32_t I = 0; I < P.numStages(); ++I)
      ByCompletion[I] = I;
    std::stable_sort(ByCompletion.begin(), ByCompletion.end(),
                     [&](int32_t A, int32_t B) { return Order[A] < Order[B]; });

    for (int32_t StageId : ByCompletion) {
      if (LastBackward[StageId] == NoTask)
        continue;
      const Stage &St = P.Stages[StageId];
      TaskId Ready = LastBackward[StageId];
      const ReplicaGroup Group = replicaGroup(P, St.Device);
      if (Group.Ranks > 1) {
        Task AR;
        AR.Kind = proto::ALL_REDUCE;
        AR.Stream = proto::COLLECTIVE;
        AR.Device = St.Device;
        AR.Stage = StageId;
        AR.Bytes = St.ParamBytes;
        AR.DurationMs = Costs.allReduceMs(St.ParamBytes, Group.Ranks, Group.CrossNode);
        TaskId Id = P.addTask(AR);
        P.addEdge(Ready, Id);
        Ready = Id;
      }
      Task Opt;
      Opt.Kind = proto::OPTIMIZER_STEP;
      Opt.Stream = proto::COMPUTE;
      Opt.Device = St.Device;
      Opt.Stage = StageId;
      Opt.DurationMs = Costs.optimizerMs(St.ParamBytes / Costs.elementBytes());
      TaskId Id = P.addTask(Opt);
      P.addEdge(Ready, Id);
    }
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createDataParallelSyncPass() {
  return std::make_unique<DataParallelSyncPass>();
}

} // namespace pfc
