//===- ZeroCollectives.cpp - ZeRO's reduce-scatter and all-gather on the CPU ===//
//
// The plan checks walk the happens-before graph backwards (dependency
// edges, and each task's predecessor in its stream, which the walker runs
// in order) from the task that must come later.
//
//===----------------------------------------------------------------------===//
#include "ZeroCollectives.h"

#include "Optimizer.h"

#include "ir/Diagnostics.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <map>

namespace pfc::interp {
namespace {

/// A maximal run of one stage's forwards/backwards in its device's compute
/// order: its first and last task.
struct Run {
  TaskId First = NoTask, Last = NoTask;
};

/// Happens-before queries on a plan.
class Order {
public:
  explicit Order(const Program &P)
      : Preds(P.predecessors()), StreamPrev(P.Tasks.size(), NoTask), Seen(P.Tasks.size(), 0) {
    for (int32_t D = 0; D < P.numDevices(); ++D)
      for (int K = 0; K < NumStreams; ++K) {
        const auto &Stream = P.stream(D, static_cast<StreamKind>(K));
        for (size_t I = 1; I < Stream.size(); ++I)
          StreamPrev[static_cast<size_t>(Stream[I])] = Stream[I - 1];
      }
  }

  /// Marks the tasks that happen before \p Later; then before() asks.
  void from(TaskId Later) {
    ++Epoch;
    std::vector<TaskId> Todo{Later};
    while (!Todo.empty()) {
      const TaskId Id = Todo.back();
      Todo.pop_back();
      auto Visit = [&](TaskId Pred) {
        if (Pred != NoTask && Seen[static_cast<size_t>(Pred)] != Epoch)
          Seen[static_cast<size_t>(Pred)] = Epoch, Todo.push_back(Pred);
      };
      for (TaskId Pred : Preds.of(Id))
        Visit(Pred);
      Visit(StreamPrev[static_cast<size_t>(Id)]);
    }
  }
  bool before(TaskId Earlier) const { return Seen[static_cast<size_t>(Earlier)] == Epoch; }
  /// Whether \p Earlier happens before \p Later.
  bool precedes(TaskId Earlier, TaskId Later) {
    from(Later);
    return before(Earlier);
  }

private:
  Adjacency Preds;
  std::vector<TaskId> StreamPrev;
  std::vector<int32_t> Seen;
  int32_t Epoch = 0;
};

std::string describe(const Program &P, TaskId Id) {
  const Task &Tk = P.Tasks[Id];
  std::string Mb = Tk.Microbatch >= 0 ? fmt::format(", micro-batch {}", Tk.Microbatch) : "";
  return fmt::format("task {} ({}{}, device {})", Id, taskKindName(Tk.Kind), Mb, Tk.Device);
}

} // namespace

std::pair<int64_t, int64_t> zeroShard(int64_t Size, int32_t Rank, int32_t Ranks) {
  return {Size * Rank / Ranks, Size * (Rank + 1) / Ranks};
}

llvm::Expected<ZeroPlan> analyzeZeroPlan(const Program &P) {
  ZeroPlan Z;
  Z.Zero = P.Options.zero();
  const int32_t Stages = P.numStages();
  std::vector<std::vector<TaskId>> Scatters(Stages), Gathers(Stages), Steps(Stages),
      Backwards(Stages), Preconditions(Stages);
  bool Kfac = false;
  for (TaskId Id = 0; Id < P.numTasks(); ++Id) {
    const Task &Tk = P.Tasks[Id];
    if (Tk.Stage < 0 || Tk.Stage >= Stages)
      continue;
    if (Tk.Kind == proto::REDUCE_SCATTER)
      Scatters[Tk.Stage].push_back(Id);
    else if (Tk.Kind == proto::ALL_GATHER)
      Gathers[Tk.Stage].push_back(Id);
    else if (Tk.Kind == proto::OPTIMIZER_STEP)
      Steps[Tk.Stage].push_back(Id);
    else if (Tk.Kind == proto::BACKWARD)
      Backwards[Tk.Stage].push_back(Id);
    else if (Tk.Kind == proto::PRECONDITION)
      Preconditions[Tk.Stage].push_back(Id);
    Kfac |= isCycleTask(Tk.Kind) || Tk.Kind == proto::PRECONDITION;
    if (Z.Zero == 0 && (Tk.Kind == proto::REDUCE_SCATTER || Tk.Kind == proto::ALL_GATHER))
      return userError("pfc-run: error: the plan has {} tasks (task {}) but no ZeRO stage in "
                       "its options (zero: 0)",
                       taskKindName(Tk.Kind), Id);
  }
  if (Z.Zero == 0)
    return Z;
  if (Z.Zero < 0 || Z.Zero > 3)
    return userError("pfc-run: error: the plan's ZeRO stage is {}; valid: 0, 1, 2, 3", Z.Zero);

  std::map<std::pair<int32_t, int32_t>, std::vector<int32_t>> ByRange;
  for (int32_t S = 0; S < Stages; ++S)
    ByRange[{P.Stages[S].LayerBegin, P.Stages[S].LayerEnd}].push_back(S);
  Z.Copies.resize(Stages);
  Z.Rank.resize(Stages);
  for (const auto &[Range, Copies] : ByRange)
    for (size_t R = 0; R < Copies.size(); ++R) {
      Z.Copies[Copies[R]] = Copies;
      Z.Rank[Copies[R]] = static_cast<int32_t>(R);
    }

  // Runs of each stage's compute work, in order.
  std::vector<std::vector<Run>> Runs(Stages);
  Z.EndsRun.assign(P.Tasks.size(), 0);
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    int32_t Current = -1;
    for (TaskId Id : P.stream(D, proto::COMPUTE)) {
      const Task &Tk = P.Tasks[Id];
      if (Tk.Kind != proto::FORWARD && Tk.Kind != proto::BACKWARD)
        continue;
      if (Tk.Stage != Current)
        Runs[Tk.Stage].push_back(Run{Id, Id});
      Runs[Tk.Stage].back().Last = Id;
      Current = Tk.Stage;
    }
  }
  for (int32_t S = 0; S < Stages; ++S)
    for (const Run &R : Runs[S])
      Z.EndsRun[static_cast<size_t>(R.Last)] = 1;

  Order Ord(P);
  for (int32_t S = 0; S < Stages; ++S) {
    if (Scatters[S].size() != 1 || Steps[S].size() != 1)
      return userError("pfc-run: error: the plan says ZeRO stage {}, but its stage {} has {} "
                       "REDUCE_SCATTER and {} OPTIMIZER_STEP tasks; a ZeRO plan has one of each "
                       "per stage",
                       Z.Zero, S, Scatters[S].size(), Steps[S].size());
    const TaskId Scatter = Scatters[S][0], Step = Steps[S][0];
    Ord.from(Scatter);
    for (TaskId B : Backwards[S])
      if (!Ord.before(B))
        return userError("pfc-run: error: stage {}'s reduce-scatter, {}, is not ordered after "
                         "its {}: it would reduce a partial gradient",
                         S, describe(P, Scatter), describe(P, B));
    if (!Ord.precedes(Scatter, Step))
      return userError("pfc-run: error: stage {}'s optimizer step, {}, is not ordered after its "
                       "reduce-scatter, {}",
                       S, describe(P, Step), describe(P, Scatter));
    if (Kfac) {
      // The reduce-scatter sums preconditioned gradients: PRECONDITION
      // between the stage's backwards and its reduce-scatter.
      if (Preconditions[S].size() != 1)
        return userError("pfc-run: error: stage {} of the K-FAC ZeRO-{} plan has {} PRECONDITION "
                         "tasks; one, before its reduce-scatter, is needed",
                         S, Z.Zero, Preconditions[S].size());
      const TaskId Pre = Preconditions[S][0];
      Ord.from(Pre);
      for (TaskId B : Backwards[S])
        if (!Ord.before(B))
          return userError("pfc-run: error: stage {}'s PRECONDITION, {}, is not ordered after "
                           "its {}: it would precondition a partial gradient",
                           S, describe(P, Pre), describe(P, B));
      if (!Ord.precedes(Pre, Scatter))
        return userError("pfc-run: error: stage {}'s PRECONDITION, {}, is not ordered before its "
                         "reduce-scatter, {}: under ZeRO each replica preconditions its own "
                         "gradient before the reduce-scatter sums them (after it, no replica "
                         "holds a whole layer's gradient); a plan from an older pfc may have it "
                         "after: compile it again",
                         S, describe(P, Pre), describe(P, Scatter));
    }
    if (Z.Zero < 3) {
      if (Gathers[S].size() != 1)
        return userError("pfc-run: error: stage {} of the ZeRO-{} plan has {} ALL_GATHER tasks; "
                         "one, after its optimizer step, is needed",
                         S, Z.Zero, Gathers[S].size());
      if (!Ord.precedes(Step, Gathers[S][0]))
        return userError("pfc-run: error: stage {}'s all-gather, {}, is not ordered after its "
                         "optimizer step, {}: it would gather parameters not yet updated",
                         S, describe(P, Gathers[S][0]), describe(P, Step));
      continue;
    }
    if (Gathers[S].size() != Runs[S].size())
      return userError("pfc-run: error: stage {} of the ZeRO-3 plan runs its compute work in {} "
                       "runs but has {} ALL_GATHER tasks; one before each run is needed",
                       S, Runs[S].size(), Gathers[S].size());
    for (size_t K = 0; K < Runs[S].size(); ++K) {
      const TaskId Gather = Gathers[S][K], First = Runs[S][K].First;
      if (!Ord.precedes(Gather, First))
        return userError("pfc-run: error: stage {}'s all-gather {} is not ordered before {}, "
                         "the first of the run it gathers the parameters for: that task could "
                         "use parameters not gathered (ZeRO-3)",
                         S, describe(P, Gather), describe(P, First));
      if (K > 0 && !Ord.precedes(Runs[S][K - 1].Last, Gather))
        return userError("pfc-run: error: stage {}'s all-gather {} is not ordered after {}, "
                         "the end of the stage's previous run, which releases the parameters "
                         "the gather fills (ZeRO-3)",
                         S, describe(P, Gather), describe(P, Runs[S][K - 1].Last));
    }
  }
  // The copies of a stage gather together: as many gathers each.
  for (int32_t S = 0; S < Stages; ++S) {
    const int32_t First = Z.Copies[S][0];
    if (Gathers[S].size() != Gathers[First].size())
      return userError("pfc-run: error: stage {} has {} ALL_GATHER tasks per step, its copy stage "
                       "{} has {}: the gathers of a stage's copies are collectives together",
                       S, Gathers[S].size(), First, Gathers[First].size());
  }
  return Z;
}

template <typename T>
ZeroCollectives<T>::ZeroCollectives(const Program &Prog, ZeroPlan Plan,
                                    const std::vector<Model<T> *> &Replicas)
    : P(Prog), Z(std::move(Plan)) {
  if (Z.Zero == 0)
    return;
  for (const Stage &St : P.Stages) {
    Params.push_back(
        Replicas[static_cast<size_t>(St.Pipeline)]->params(St.LayerBegin, St.LayerEnd));
    Size.push_back(flatSize(Params.back()));
  }
  Companion.assign(P.Stages.size(), nullptr);
}

template <typename T> void ZeroCollectives<T>::setCompanion(int32_t Stage, std::vector<T> *Flat) {
  assert((!Flat || static_cast<int64_t>(Flat->size()) == Size[static_cast<size_t>(Stage)]) &&
         "a companion vector has the stage's flat size");
  Companion[static_cast<size_t>(Stage)] = Flat;
}

template <typename T> std::pair<int64_t, int64_t> ZeroCollectives<T>::shard(int32_t Stage) const {
  const auto S = static_cast<size_t>(Stage);
  return zeroShard(Size[S], Z.Rank[S], static_cast<int32_t>(Z.Copies[S].size()));
}

template <typename T> void ZeroCollectives<T>::reduceScatter(std::span<const TaskId> Members) {
  // Every owner's shard summed over the members first, then written: the
  // members' gradients are inputs until every sum is taken.
  std::vector<std::vector<T>> Sums;
  for (TaskId Owner : Members) {
    const auto [Begin, End] = shard(P.Tasks[Owner].Stage);
    std::vector<T> &Sum = Sums.emplace_back(static_cast<size_t>(End - Begin), T(0));
    bool First = true;
    for (TaskId Member : Members) {
      const ParamList<T> &From = Params[static_cast<size_t>(P.Tasks[Member].Stage)];
      forFlatRange(From, Begin, End, [&](size_t I, int64_t J0, int64_t J1, int64_t Flat) {
        const Tensor<T> &G = From[I]->Grad;
        T *Out = Sum.data() + (Flat - Begin);
        for (int64_t J = J0; J < J1; ++J)
          Out[J - J0] = First ? G[J] : Out[J - J0] + G[J];
      });
      First = false;
    }
  }
  const T Poison = std::numeric_limits<T>::quiet_NaN();
  for (size_t M = 0; M < Members.size(); ++M) {
    const int32_t Stage = P.Tasks[Members[M]].Stage;
    const auto [Begin, End] = shard(Stage);
    for (Param<T> *Pm : Params[static_cast<size_t>(Stage)])
      Pm->Grad.fill(Poison);
    const ParamList<T> &To = Params[static_cast<size_t>(Stage)];
    forFlatRange(To, Begin, End, [&](size_t I, int64_t J0, int64_t J1, int64_t Flat) {
      const T *In = Sums[M].data() + (Flat - Begin);
      std::copy(In, In + (J1 - J0), To[I]->Grad.data() + J0);
    });
  }
  reduceScatterCompanions(Members);
}

template <typename T>
void ZeroCollectives<T>::reduceScatterCompanions(std::span<const TaskId> Members) {
  std::vector<std::vector<T> *> Flat;
  for (TaskId Member : Members)
    Flat.push_back(Companion[static_cast<size_t>(P.Tasks[Member].Stage)]);
  if (std::find(Flat.begin(), Flat.end(), nullptr) != Flat.end())
    return; // the copies of a stage clip alike: all have one or none
  std::vector<std::vector<T>> Sums;
  for (TaskId Owner : Members) {
    const auto [Begin, End] = shard(P.Tasks[Owner].Stage);
    std::vector<T> &Sum = Sums.emplace_back(static_cast<size_t>(End - Begin), T(0));
    for (std::vector<T> *From : Flat)
      for (int64_t J = Begin; J < End; ++J)
        Sum[static_cast<size_t>(J - Begin)] += (*From)[static_cast<size_t>(J)];
  }
  for (size_t M = 0; M < Members.size(); ++M) {
    const auto [Begin, End] = shard(P.Tasks[Members[M]].Stage);
    std::fill(Flat[M]->begin(), Flat[M]->end(), std::numeric_limits<T>::quiet_NaN());
    std::copy(Sums[M].begin(), Sums[M].end(), Flat[M]->begin() + Begin);
  }
}

template <typename T> void ZeroCollectives<T>::gather(std::span<const int32_t> Stages) {
  for (int32_t Owner : Stages) {
    const auto [Begin, End] = shard(Owner);
    const ParamList<T> &From = Params[static_cast<size_t>(Owner)];
    for (int32_t To : Stages) {
      if (To == Owner)
        continue;
      // Both lists have one layout (one layer range, models of one config).
      const ParamList<T> &Dest = Params[static_cast<size_t>(To)];
      forFlatRange(From, Begin, End, [&](size_t I, int64_t J0, int64_t J1, int64_t) {
        std::copy(From[I]->Value.data() + J0, From[I]->Value.data() + J1,
                  Dest[I]->Value.data() + J0);
      });
    }
  }
}

template <typename T> void ZeroCollectives<T>::allGather(std::span<const TaskId> Members) {
  std::vector<int32_t> Stages;
  for (TaskId Member : Members)
    Stages.push_back(P.Tasks[Member].Stage);
  gather(Stages);
}

template <typename T> void ZeroCollectives<T>::release(int32_t Stage) {
  const auto [Begin, End] = shard(Stage);
  const T Poison = std::numeric_limits<T>::quiet_NaN();
  int64_t Offset = 0;
  for (Param<T> *Pm : Params[static_cast<size_t>(Stage)]) {
    const int64_t N = Pm->Value.numel();
    for (int64_t J = 0; J < N; ++J)
      if (Offset + J < Begin || Offset + J >= End)
        Pm->Value[J] = Poison;
    Offset += N;
  }
}

template <typename T> void ZeroCollectives<T>::beginStep() {
  if (Z.Zero == 3)
    for (int32_t S = 0; S < P.numStages(); ++S)
      release(S);
}

template <typename T> void ZeroCollectives<T>::afterTask(TaskId Id) {
  if (Z.Zero == 3 && Z.EndsRun[static_cast<size_t>(Id)])
    release(P.Tasks[Id].Stage);
}

template <typename T> void ZeroCollectives<T>::endStep() {
  if (Z.Zero == 3)
    gatherAll();
}

template <typename T> void ZeroCollectives<T>::gatherAll() {
  for (int32_t S = 0; S < P.numStages(); ++S)
    if (Z.Copies[S][0] == S)
      gather(Z.Copies[S]);
}

template class ZeroCollectives<float>;
template class ZeroCollectives<double>;

} // namespace pfc::interp
