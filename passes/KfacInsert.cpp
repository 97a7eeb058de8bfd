//===- KfacInsert.cpp - the K-FAC subtasks of one refresh ------------------===//
//
// For every Transformer block of every stage, adds the K-FAC work of one
// refresh cycle as cycle tasks (placed later by bubble-fill):
//   curvature-A(block, m) after F(stage, m)   -- that step's activations
//   curvature-B(block, m) after B(stage, m)   -- that step's output gradients
//     for every micro-batch m the stage runs, or an evenly spaced share of
//     them (--kfac-curvature-microbatches M: about M x (its micro-batches)/N)
//     Granularity follows a budget of about 1024 curvature tasks per device:
//     with fewer, a long one is split into up to 4 independent pieces over
//     token rows (while the device's pieces stay within the budget) so that
//     it fits small gaps; with more, consecutive blocks of a stage share one
//     task (layer_count > 1), since each is short next to the step and
//     per-block tasks would only multiply the plan (--kfac-curvature-blocks
//     sets the group size instead)
//   factor all-reduce(block group) after all its curvature, when the stage
//     has replicas (data parallelism, Chimera's second pipeline): one per
//     group of blocks that share curvature tasks
//   inversion A / B (block) after the factor is complete; an inversion
//     longer than the piece limit becomes a chain of pieces (blocked Cholesky
//     panels) so that it fits small gaps: up to 64, and no more than about
//     512 per device
// and, every step, a PRECONDITION task per stage between the gradient being
// complete (its all-reduce, or its last backward) and the optimizer step.
// Under ZeRO no rank holds a layer's whole summed gradient after the
// reduce-scatter, so the stage's gradient is preconditioned before it, right
// after the stage's last backward: preconditioning is linear and every
// replica holds the same (all-reduced) factors, so the reduce-scatter of the
// preconditioned gradients gives each rank its shard of B^-1 (sum G) A^-1.
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "KfacCosts.h"
#include "Pass.h"
#include "Replicas.h"

#include "ir/Diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pfc {
namespace {

/// Bounds on splitting: curvature tasks are numerous (blocks x micro-batches),
/// inversions few.
constexpr int32_t MaxCurvaturePieces = 4;
/// Curvature tasks per device that splitting may reach and grouping aims at.
constexpr int64_t CurvatureBudget = 1024;
constexpr int32_t MaxInversionPieces = 64;
/// Inversion pieces per device that splitting may reach: a device holding
/// many blocks splits each inversion into fewer pieces.
constexpr int64_t InversionBudget = 512;

/// Consecutive blocks [First, First + Count) that share curvature tasks.
struct BlockGroup {
  int32_t First = 0;
  int32_t Count = 0;
};

/// Blocks [First, Last] in ceil(n / Size) groups of near-equal size.
std::vector<BlockGroup> groupBlocks(int32_t First, int32_t Last, int32_t Size) {
  const int32_t N = Last - First + 1;
  const int32_t Groups = (N + Size - 1) / Size;
  std::vector<BlockGroup> Out;
  for (int32_t G = 0; G < Groups; ++G) {
    const int32_t Begin = First + static_cast<int32_t>(static_cast<int64_t>(G) * N / Groups);
    const int32_t End = First + static_cast<int32_t>(static_cast<int64_t>(G + 1) * N / Groups);
    Out.push_back({Begin, End - Begin});
  }
  return Out;
}

class KfacInsertPass : public Pass {
public:
  llvm::StringRef name() const override { return "kfac-insert"; }

  llvm::Expected<bool> run(Program &P) override {
    for (const Task &T : P.Tasks)
      if (isCycleTask(T.Kind) || T.Kind == proto::PRECONDITION)
        return userError("pfc: error: kfac-insert: the plan already has K-FAC tasks");
    P.clearResults();
    const int32_t Blocks = P.Model.num_layers();
    const KfacBlockCost Cost = kfacBlockCost(P);
    CostModel Costs(P);
    double MaxPiece = P.Options.kfac().max_piece_ms();
    if (std::isnan(MaxPiece))
      return userError("pfc: error: kfac-insert: options.kfac.max_piece_ms is nan; it must be a "
                       "number of ms (0: automatic, < 0: never split)");
    if (P.Options.kfac().placement() == proto::KfacOptions::PIPEFISHER)
      MaxPiece = -1; // PipeFisher never splits
    if (MaxPiece == 0) {
      // Bubbles come in multiples of a stage's forward and backward time, and
      // schedules that interleave several stages (Chimera, interleaved) leave
      // gaps of a fraction of one: a quarter of the shortest forward fits
      // them at a modest cost in tasks.
      MaxPiece = HUGE_VAL;
      for (const Stage &St : P.Stages)
        if (St.ForwardMs > 0)
          MaxPiece = std::min(MaxPiece, St.ForwardMs / 4);
    }

    // F and B task of every (stage, micro-batch), and each stage's optimizer step.
    const int32_t N = P.Options.microbatches();
    std::vector<TaskId> Fwd(static_cast<size_t>(P.numStages()) * N, NoTask);
    std::vector<TaskId> Bwd = Fwd;
    std::vector<TaskId> OptStep(P.numStages(), NoTask);
    std::vector<TaskId> Scatter(P.numStages(), NoTask);
    for (TaskId T = 0; T < P.numTasks(); ++T) {
      const Task &Tk = P.Tasks[T];
      size_t Slot = static_cast<size_t>(Tk.Stage) * N + Tk.Microbatch;
      if (Tk.Kind == proto::FORWARD)
        Fwd[Slot] = T;
      else if (Tk.Kind == proto::BACKWARD)
        Bwd[Slot] = T;
      else if (Tk.Kind == proto::OPTIMIZER_STEP)
        OptStep[Tk.Stage] = T;
      else if (Tk.Kind == proto::REDUCE_SCATTER && Tk.Stage >= 0)
        Scatter[Tk.Stage] = T;
    }

    const int32_t Sampled = P.Options.kfac().curvature_microbatches();
    if (Sampled < 0 || Sampled > N)
      return userError("pfc: error: kfac-insert: options.kfac.curvature_microbatches is {}; it "
                       "must be in [0, {}] (the micro-batches; 0: all of them)",
                       Sampled, N);
    if (P.Options.kfac().curvature_blocks() < 0)
      return userError("pfc: error: kfac-insert: options.kfac.curvature_blocks is {}; it must be "
                       "0 (automatic) or at least 1",
                       P.Options.kfac().curvature_blocks());
    const std::vector<char> Curvature = sampleMicrobatches(P, Fwd, Sampled);
    std::vector<int32_t> StageMbs(P.numStages(), 0);
    for (size_t Slot = 0; Slot < Curvature.size(); ++Slot)
      StageMbs[Slot / N] += Curvature[Slot];
    const auto [GroupSize, PieceLimit] = granularity(P, StageMbs, Blocks);
    const double CurvatureMaxPiece = GroupSize == 1 && PieceLimit > 1 ? MaxPiece : -1;
    std::vector<std::vector<BlockGroup>> Groups(P.numStages());
    for (int32_t S = 0; S < P.numStages(); ++S)
      if (auto [First, Count] = blocksOf(P.Stages[S], Blocks); Count > 0)
        Groups[S] = groupBlocks(First, First + Count - 1, static_cast<int32_t>(GroupSize));
    const int32_t InvLimit = inversionPieceLimit(P, Blocks);
    const int32_t InvPieces = piecesFor(Cost.InvertAMs, MaxPiece, InvLimit) +
                              piecesFor(Cost.InvertBMs, MaxPiece, InvLimit);
    const int32_t CurvPieces = piecesFor(Cost.CurvatureAMs, CurvatureMaxPiece, PieceLimit) +
                               piecesFor(Cost.CurvatureBMs, CurvatureMaxPiece, PieceLimit);
    reserveFor(P, Groups, StageMbs, OptStep, CurvPieces, InvPieces);

    std::vector<TaskId> Redirect(P.numTasks(), NoTask); // optimizer step -> its precondition
    for (int32_t S = 0; S < P.numStages(); ++S) {
      const Stage St = P.Stages[S];
      if (Groups[S].empty())
        continue; // embedding or head only: no block to precondition
      const ReplicaGroup Group = replicaGroup(P, St.Device);
      for (const BlockGroup &G : Groups[S]) {
        std::vector<TaskId> CurvA, CurvB;
        for (int32_t Mb = 0; Mb < N; ++Mb) {
          size_t Slot = static_cast<size_t>(S) * N + Mb;
          if (!Curvature[Slot])
            continue; // not sampled, or the other Chimera pipeline runs it
          addCurvature(P, proto::CURVATURE_A, St, S, Mb, G, Cost.CurvatureAMs * G.Count,
                       CurvatureMaxPiece, PieceLimit, Fwd[Slot], CurvA);
          addCurvature(P, proto::CURVATURE_B, St, S, Mb, G, Cost.CurvatureBMs * G.Count,
                       CurvatureMaxPiece, PieceLimit, Bwd[Slot], CurvB);
        }
        // The group's factors travel in one all-reduce, as they were
        // accumulated by one set of curvature tasks.
        TaskId Sync = NoTask;
        if (Group.Ranks > 1) {
          Task AR = cycleTask(proto::FACTOR_ALL_REDUCE, St, S, -1, G.First);
          AR.LayerCount = static_cast<int16_t>(G.Count);
          AR.Bytes = Cost.FactorBytes * G.Count;
          AR.DurationMs = Costs.allReduceMs(AR.Bytes, Group.Ranks, Group.CrossNode);
          Sync = P.addTask(AR);
          for (TaskId C : CurvA)
            P.addEdge(C, Sync);
          for (TaskId C : CurvB)
            P.addEdge(C, Sync);
        }
        for (int32_t Layer = G.First; Layer < G.First + G.Count; ++Layer) {
          addInversion(P, proto::INVERT_A, St, S, Layer, Cost.InvertAMs, MaxPiece, InvLimit, Sync,
                       CurvA);
          addInversion(P, proto::INVERT_B, St, S, Layer, Cost.InvertBMs, MaxPiece, InvLimit, Sync,
                       CurvB);
        }
      }
      const double PrecMs = Cost.PreconditionMs * blocksOf(St, Blocks).second;
      if (Scatter[S] != NoTask)
        Redirect[Scatter[S]] = addPreconditionBefore(P, S, Scatter[S], PrecMs);
      else if (OptStep[S] != NoTask)
        Redirect[OptStep[S]] = addPrecondition(P, S, OptStep[S], PrecMs);
    }
    // Whatever the optimizer step (ZeRO: the reduce-scatter) waited for, its
    // preconditioning waits for now.
    const size_t Old = P.Edges.size();
    for (size_t I = 0; I < Old; ++I) {
      TaskId &To = P.Edges[I].second;
      if (To < static_cast<TaskId>(Redirect.size()) && Redirect[To] != NoTask)
        To = Redirect[To];
    }
    for (size_t To = 0; To < Redirect.size(); ++To)
      if (Redirect[To] != NoTask)
        P.addEdge(Redirect[To], static_cast<TaskId>(To));
    P.Kfac.set_present(true);
    return true;
  }

private:
  static Task cycleTask(TaskKind Kind, const Stage &St, int32_t S, int32_t Mb, int32_t Layer) {
    Task T;
    T.Kind = Kind;
    T.Stream = defaultStream(Kind);
    T.Device = St.Device;
    T.Stage = S;
    T.Microbatch = Mb;
    T.Layer = Layer;
    return T;
  }

  /// Per (stage, micro-batch): whether the stage takes curvature from it.
  /// Each stage takes all the micro-batches it runs, or with \p Sampled > 0
  /// an evenly spaced ceil(Sampled x n / N) of its n.
  static std::vector<char> sampleMicrobatches(const Program &P, const std::vector<TaskId> &Fwd,
                                              int32_t Sampled) {
    const int32_t N = P.Options.microbatches();
    std::vector<char> Out(Fwd.size(), 0);
    for (int32_t S = 0; S < P.numStages(); ++S) {
      std::vector<int32_t> Runs;
      for (int32_t Mb = 0; Mb < N; ++Mb)
        if (Fwd[static_cast<size_t>(S) * N + Mb] != NoTask)
          Runs.push_back(Mb);
      const int64_t Have = static_cast<int64_t>(Runs.size());
      const int64_t Take = Sampled == 0 ? Have : (int64_t{Sampled} * Have + N - 1) / N;
      for (int64_t I = 0; I < Take; ++I)
        Out[static_cast<size_t>(S) * N + Runs[I * Have / Take]] = 1;
    }
    return Out;
  }

  /// Blocks per curvature task and the most pieces one may be split into,
  /// from the busiest device's count of per-block curvature tasks against
  /// CurvatureBudget (or the options' curvature_blocks).
  static std::pair<int32_t, int32_t> granularity(const Program &P,
                                                 const std::vector<int32_t> &StageMbs,
                                                 int32_t Blocks) {
    std::vector<int64_t> PerBlockCount(P.numDevices(), 0);
    for (int32_t S = 0; S < P.numStages(); ++S)
      PerBlockCount[P.Stages[S].Device] +=
          2 * int64_t{StageMbs[S]} * blocksOf(P.Stages[S], Blocks).second;
    const int64_t Busiest =
        std::max<int64_t>(1, *std::max_element(PerBlockCount.begin(), PerBlockCount.end()));
    int64_t GroupSize = P.Options.kfac().curvature_blocks();
    if (GroupSize == 0) // PipeFisher's baseline keeps one block per task
      GroupSize = P.Options.kfac().placement() == proto::KfacOptions::PIPEFISHER
                      ? 1
                      : (Busiest + CurvatureBudget - 1) / CurvatureBudget;
    GroupSize = std::min<int64_t>(GroupSize, std::numeric_limits<int16_t>::max());
    const int64_t PieceLimit = std::clamp<int64_t>(CurvatureBudget / Busiest, 1, MaxCurvaturePieces);
    return {static_cast<int32_t>(GroupSize), static_cast<int32_t>(PieceLimit)};
  }

  /// The most pieces an inversion may be split into: MaxInversionPieces, or
  /// fewer where the busiest device's two inversions per block would exceed
  /// InversionBudget pieces.
  static int32_t inversionPieceLimit(const Program &P, int32_t Blocks) {
    std::vector<int64_t> PerDevice(P.numDevices(), 0);
    for (const Stage &St : P.Stages)
      PerDevice[St.Device] += 2 * int64_t{blocksOf(St, Blocks).second};
    const int64_t Busiest =
        std::max<int64_t>(1, *std::max_element(PerDevice.begin(), PerDevice.end()));
    return static_cast<int32_t>(
        std::clamp<int64_t>(InversionBudget / Busiest, 1, MaxInversionPieces));
  }

  /// The blocks of stage \p St: first, count (0: embedding or head only).
  static std::pair<int32_t, int32_t> blocksOf(const Stage &St, int32_t Blocks) {
    const int32_t First = std::max(1, St.LayerBegin), Last = std::min(Blocks, St.LayerEnd - 1);
    return {First, std::max(0, Last - First + 1)};
  }

  /// Sizes the task, edge and stream vectors once for what run() adds (it
  /// doubles the tasks of a plan, which would otherwise be copied as the
  /// vectors grow): per block group of a stage and micro-batch, \p CurvPieces
  /// curvature tasks, each with an edge in and one out per block of the
  /// group; per block, the factor all-reduce and \p InvPieces inversion
  /// pieces; a preconditioning task per stage.
  static void reserveFor(Program &P, const std::vector<std::vector<BlockGroup>> &Groups,
                         const std::vector<int32_t> &StageMbs, const std::vector<TaskId> &OptStep,
                         int32_t CurvPieces, int32_t InvPieces) {
    int64_t Tasks = 0, Edges = 0;
    std::vector<int64_t> PerDevice(P.numDevices(), 0);
    for (int32_t S = 0; S < P.numStages(); ++S) {
      int64_t Stage = 1;
      for (const BlockGroup &G : Groups[S]) {
        const int64_t Curv = static_cast<int64_t>(StageMbs[S]) * CurvPieces;
        Stage += Curv + G.Count * (1 + InvPieces);
        Edges += Curv * (1 + G.Count) + G.Count * (2 + InvPieces);
      }
      Edges += 2 * (OptStep[S] != NoTask);
      Tasks += Stage;
      PerDevice[P.Stages[S].Device] += Stage;
    }
    P.Tasks.reserve(P.Tasks.size() + Tasks);
    P.Edges.reserve(P.Edges.size() + Edges);
    for (int32_t D = 0; D < P.numDevices(); ++D) {
      auto &Compute = P.stream(D, proto::COMPUTE);
      Compute.reserve(Compute.size() + PerDevice[D]);
    }
  }

  /// Curvature of one micro-batch for the blocks of \p G, in independent
  /// pieces over its token rows (each adds its rows' a^T a or g^T g to the
  /// factors) when longer than the piece limit; at most \p Limit pieces.
  static void addCurvature(Program &P, TaskKind Kind, const Stage &St, int32_t S, int32_t Mb,
                           BlockGroup G, double Ms, double MaxPiece, int32_t Limit, TaskId After,
                           std::vector<TaskId> &Out) {
    int32_t Pieces = piecesFor(Ms, MaxPiece, Limit);
    for (int32_t I = 0; I < Pieces; ++I) {
      Task T = cycleTask(Kind, St, S, Mb, G.First);
      T.LayerCount = static_cast<int16_t>(G.Count);
      T.DurationMs = Ms / Pieces;
      T.Piece = static_cast<int16_t>(I);
      TaskId Id = P.addTask(T);
      P.addEdge(After, Id);
      Out.push_back(Id);
    }
  }

  static int32_t piecesFor(double Ms, double MaxPiece, int32_t Limit) {
    if (MaxPiece <= 0 || Ms <= MaxPiece)
      return 1;
    return static_cast<int32_t>(std::min<double>(Limit, std::ceil(Ms / MaxPiece)));
  }

  static void addInversion(Program &P, TaskKind Kind, const Stage &St, int32_t S, int32_t Layer,
                           double Ms, double MaxPiece, int32_t Limit, TaskId Sync,
                           const std::vector<TaskId> &Curvature) {
    int32_t Pieces = piecesFor(Ms, MaxPiece, Limit);
    TaskId Prev = NoTask;
    for (int32_t I = 0; I < Pieces; ++I) {
      Task T = cycleTask(Kind, St, S, -1, Layer);
      T.DurationMs = Ms / Pieces;
      T.Piece = static_cast<int16_t>(I);
      TaskId Id = P.addTask(T);
      if (Prev != NoTask)
        P.addEdge(Prev, Id);
      else if (Sync != NoTask)
        P.addEdge(Sync, Id);
      else
        for (TaskId C : Curvature)
          P.addEdge(C, Id);
      Prev = Id;
    }
  }

  /// Adds a PRECONDITION task right before the optimizer step in its stream;
  /// the caller moves the optimizer step's dependencies onto it.
  static TaskId addPrecondition(Program &P, int32_t S, TaskId Opt, double Ms) {
    TaskId Id = newPrecondition(P, S, P.Tasks[Opt].Device, Ms);
    auto &Stream = P.stream(P.Tasks[Id].Device, proto::COMPUTE);
    Stream.insert(std::find(Stream.begin(), Stream.end(), Opt), Id);
    return Id;
  }

  /// ZeRO: adds a PRECONDITION task right after the stage's last task in
  /// its compute stream (its last backward); the caller moves the
  /// reduce-scatter's dependencies onto it.
  static TaskId addPreconditionBefore(Program &P, int32_t S, TaskId Scatter, double Ms) {
    TaskId Id = newPrecondition(P, S, P.Tasks[Scatter].Device, Ms);
    auto &Stream = P.stream(P.Tasks[Id].Device, proto::COMPUTE);
    auto Last = std::find_if(Stream.rbegin(), Stream.rend(), [&](TaskId T) {
      return P.Tasks[T].Stage == S && P.Tasks[T].Kind == proto::BACKWARD;
    });
    Stream.insert(Last.base(), Id);
    return Id;
  }

  /// A PRECONDITION task of stage \p S, not yet in its stream.
  static TaskId newPrecondition(Program &P, int32_t S, int32_t Device, double Ms) {
    Task T;
    T.Kind = proto::PRECONDITION;
    T.Stream = proto::COMPUTE;
    T.Device = Device;
    T.Stage = S;
    T.DurationMs = Ms;
    TaskId Id = P.addTask(T);
    P.stream(Device, proto::COMPUTE).pop_back(); // addTask appended it
    return Id;
  }
};

} // namespace

std::unique_ptr<Pass> createKfacInsertPass() { return std::make_unique<KfacInsertPass>(); }

} // namespace pfc
