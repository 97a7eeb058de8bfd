//===- ZeroSync.cpp - ZeRO gradient and parameter collectives --------------===//
//
// Used instead of dp-sync when --zero is 1, 2 or 3 (Rajbhandari et al.,
// SC'20): the ranks holding a replica of a stage (Replicas.h) each own 1/n of
// its optimizer state (and gradients, and parameters), so
//   - after the stage's last backward on its device, a reduce-scatter of its
//     gradients (instead of an all-reduce) on the COLLECTIVE stream;
//   - the optimizer step updates only the rank's shard (compute stream);
//   - ZeRO-1/2: an all-gather of the updated parameters after the step;
//   - ZeRO-3: parameters live sharded, so a stage's weights are all-gathered
//     before every run of consecutive compute work of that stage on its
//     device (Zero.h's stageRuns): twice per step for the layered order
//     (once per phase; once for a device's last stage, whose forward run and
//     backward run touch), independent of N; about once per micro-batch
//     group for depth-first orders. A gather is prefetched: it may start
//     once the first task of the previous run has ended.
// Every collective is placed as early as its data allow; the collective
// stream runs them in the order of the compute work they wait for or feed.
// Ring costs: reduce-scatter and all-gather each half an all-reduce.
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "Pass.h"
#include "Replicas.h"
#include "Zero.h"

#include "ir/Diagnostics.h"

#include <algorithm>

namespace pfc {
namespace {

/// A collective to add on one device, anchored at a compute-stream position:
/// it depends on the task there (if any) and sorts by it.
struct Pending {
  int32_t Anchor = -1;
  bool Gather = false;
  int32_t Stage = -1;
  TaskId After = NoTask;  ///< dependency
  TaskId Before = NoTask; ///< dependent
};

class ZeroSyncPass : public Pass {
public:
  llvm::StringRef name() const override { return "zero-sync"; }

  llvm::Expected<bool> run(Program &P) override {
    const int32_t Zero = P.Options.zero();
    if (Zero < 1 || Zero > 3)
      return userError("pfc: error: zero-sync needs --zero 1, 2 or 3 (got {}); use dp-sync "
                       "without ZeRO",
                       Zero);
    if (P.Options.data_parallel() < 2)
      return userError("pfc: error: --zero {} shards across data-parallel replicas; give "
                       "--data-parallel 2 or more, or --zero 0",
                       Zero);
    if (P.numTasks() == 0)
      return false;
    P.clearResults();
    CostModel Costs(P);
    std::vector<TaskId> ReduceScatter(P.numStages(), NoTask);
    std::vector<int32_t> LastPos(P.numStages(), -1);

    for (int32_t Dev = 0; Dev < P.numDevices(); ++Dev) {
      const std::vector<TaskId> Stream = P.stream(Dev, proto::COMPUTE);
      std::vector<Pending> Todo;
      std::vector<TaskId> LastB(P.numStages(), NoTask);
      for (int32_t I = 0; I < static_cast<int32_t>(Stream.size()); ++I) {
        const Task &T = P.Tasks[Stream[I]];
        if (T.Kind == proto::BACKWARD) {
          LastB[T.Stage] = Stream[I];
          LastPos[T.Stage] = I;
        }
      }
      for (int32_t S = 0; S < P.numStages(); ++S)
        if (LastB[S] != NoTask)
          Todo.push_back(Pending{LastPos[S], false, S, LastB[S], NoTask});
      if (Zero == 3) {
        auto Runs = stageRuns(P, Dev);
        for (size_t K = 0; K < Runs.size(); ++K) {
          int32_t Prev = K == 0 ? -1 : Runs[K - 1].First;
          Todo.push_back(Pending{Prev, true, Runs[K].Stage, Prev < 0 ? NoTask : Stream[Prev],
                                 Stream[Runs[K].First]});
        }
      }
      // Gathers first on a tie: the compute stream waits for them.
      std::stable_sort(Todo.begin(), Todo.end(), [](const Pending &A, const Pending &B) {
        return A.Anchor != B.Anchor ? A.Anchor < B.Anchor : A.Gather && !B.Gather;
      });
      const ReplicaGroup G = replicaGroup(P, Dev);
      for (const Pending &W : Todo) {
        Task T;
        T.Kind = W.Gather ? proto::ALL_GATHER : proto::REDUCE_SCATTER;
        T.Stream = proto::COLLECTIVE;
        T.Device = Dev;
        T.Stage = W.Stage;
        T.Bytes = P.Stages[W.Stage].ParamBytes;
        T.DurationMs = W.Gather ? Costs.allGatherMs(T.Bytes, G.Ranks, G.CrossNode)
                                : Costs.reduceScatterMs(T.Bytes, G.Ranks, G.CrossNode);
        TaskId Id = P.addTask(T);
        if (W.After != NoTask)
          P.addEdge(W.After, Id);
        if (W.Before != NoTask)
          P.addEdge(Id, W.Before);
        if (!W.Gather)
          ReduceScatter[W.Stage] = Id;
      }
    }

    // Optimizer steps in the order the stages' gradients complete, as dp-sync.
    std::vector<int32_t> ByCompletion;
    for (int32_t S = 0; S < P.numStages(); ++S)
      if (ReduceScatter[S] != NoTask)
        ByCompletion.push_back(S);
    std::stable_sort(ByCompletion.begin(), ByCompletion.end(),
                     [&](int32_t A, int32_t B) { return LastPos[A] < LastPos[B]; });
    for (int32_t S : ByCompletion) {
      const Stage &St = P.Stages[S];
      const ReplicaGroup G = replicaGroup(P, St.Device);
      Task Opt;
      Opt.Kind = proto::OPTIMIZER_STEP;
      Opt.Stream = proto::COMPUTE;
      Opt.Device = St.Device;
      Opt.Stage = S;
      Opt.DurationMs = Costs.optimizerMs(St.ParamBytes / Costs.elementBytes() / G.Ranks);
      TaskId OptId = P.addTask(Opt);
      P.addEdge(ReduceScatter[S], OptId);
      if (Zero == 3)
        continue; // the next step's gathers fetch the updated shards
      Task AG;
      AG.Kind = proto::ALL_GATHER;
      AG.Stream = proto::COLLECTIVE;
      AG.Device = St.Device;
      AG.Stage = S;
      AG.Bytes = St.ParamBytes;
      AG.DurationMs = Costs.allGatherMs(AG.Bytes, G.Ranks, G.CrossNode);
      P.addEdge(OptId, P.addTask(AG));
    }
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createZeroSyncPass() { return std::make_unique<ZeroSyncPass>(); }

} // namespace pfc
