//===- KfacInsert.cpp - the K-FAC subtasks of one refresh ------------------===//
//
// For every Transformer block of every stage, adds the K-FAC work of one
// refresh cycle as cycle tasks (placed later by bubble-fill):
//   curvature-A(block, m) after F(stage, m)   -- that step's activations
//   curvature-B(block, m) after B(stage, m)   -- that step's output gradients
//     (both in up to 4 independent pieces over token rows when long and
//     few: at most 1024 per device)
//   factor all-reduce(block) after all its curvature, when the stage has
//     replicas (data parallelism, Chimera's second pipeline)
//   inversion A / B (block) after the factor is complete; an inversion
//     longer than the piece limit becomes a chain of pieces (blocked Cholesky
//     panels) so that it fits small gaps
// and, every step, a PRECONDITION task per stage between the gradient being
// complete (its all-reduce, or its last backward) and the optimizer step.
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "KfacCosts.h"
#include "Pass.h"
#include "Replicas.h"

#include "ir/Diagnostics.h"

#include <algorithm>
#include <cmath>

namespace pfc {
namespace {

/// Bounds on splitting: curvature tasks are numerous (blocks x micro-batches),
/// inversions few.
constexpr int32_t MaxCurvaturePieces = 4;
/// Curvature is split only while a device has at most this many curvature tasks.
constexpr int64_t MaxSplitCurvature = 1024;
constexpr int32_t MaxInversionPieces = 64;

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
    for (TaskId T = 0; T < P.numTasks(); ++T) {
      const Task &Tk = P.Tasks[T];
      size_t Slot = static_cast<size_t>(Tk.Stage) * N + Tk.Microbatch;
      if (Tk.Kind == proto::FORWARD)
        Fwd[Slot] = T;
      else if (Tk.Kind == proto::BACKWARD)
        Bwd[Slot] = T;
      else if (Tk.Kind == proto::OPTIMIZER_STEP)
        OptStep[Tk.Stage] = T;
    }

    // Splitting curvature helps pack small gaps when a device has few such
    // tasks; with many, each is short next to the step and splitting would
    // only multiply the tasks.
    int64_t CurvaturePerDevice = 0;
    for (const Stage &St : P.Stages)
      if (St.Device == 0)
        CurvaturePerDevice += 2 * static_cast<int64_t>(N) *
                              std::max(0, std::min(Blocks, St.LayerEnd - 1) -
                                              std::max(1, St.LayerBegin) + 1);
    const double CurvatureMaxPiece = CurvaturePerDevice <= MaxSplitCurvature ? MaxPiece : -1;
    reserveFor(P, Fwd, OptStep, Blocks,
               piecesFor(Cost.CurvatureAMs, CurvatureMaxPiece, MaxCurvaturePieces) +
                   piecesFor(Cost.CurvatureBMs, CurvatureMaxPiece, MaxCurvaturePieces),
               piecesFor(Cost.InvertAMs, MaxPiece, MaxInversionPieces) +
                   piecesFor(Cost.InvertBMs, MaxPiece, MaxInversionPieces));
    std::vector<TaskId> Redirect(P.numTasks(), NoTask); // optimizer step -> its precondition
    for (int32_t S = 0; S < P.numStages(); ++S) {
      const Stage St = P.Stages[S];
      const int32_t First = std::max(1, St.LayerBegin), Last = std::min(Blocks, St.LayerEnd - 1);
      if (First > Last)
        continue; // embedding or head only: no block to precondition
      const ReplicaGroup Group = replicaGroup(P, St.Device);
      for (int32_t Layer = First; Layer <= Last; ++Layer) {
        std::vector<TaskId> CurvA, CurvB;
        for (int32_t Mb = 0; Mb < N; ++Mb) {
          size_t Slot = static_cast<size_t>(S) * N + Mb;
          if (Fwd[Slot] == NoTask)
            continue; // the other Chimera pipeline runs this micro-batch
          addCurvature(P, proto::CURVATURE_A, St, S, Mb, Layer, Cost.CurvatureAMs,
                       CurvatureMaxPiece, Fwd[Slot], CurvA);
          addCurvature(P, proto::CURVATURE_B, St, S, Mb, Layer, Cost.CurvatureBMs,
                       CurvatureMaxPiece, Bwd[Slot], CurvB);
        }
        TaskId Sync = NoTask;
        if (Group.Ranks > 1) {
          Task AR = cycleTask(proto::FACTOR_ALL_REDUCE, St, S, -1, Layer);
          AR.Bytes = Cost.FactorBytes;
          AR.DurationMs = Costs.allReduceMs(Cost.FactorBytes, Group.Ranks, Group.CrossNode);
          Sync = P.addTask(AR);
          for (TaskId C : CurvA)
            P.addEdge(C, Sync);
          for (TaskId C : CurvB)
            P.addEdge(C, Sync);
        }
        addInversion(P, proto::INVERT_A, St, S, Layer, Cost.InvertAMs, MaxPiece, Sync, CurvA);
        addInversion(P, proto::INVERT_B, St, S, Layer, Cost.InvertBMs, MaxPiece, Sync, CurvB);
      }
      if (OptStep[S] != NoTask)
        Redirect[OptStep[S]] =
            addPrecondition(P, S, OptStep[S], Cost.PreconditionMs * (Last - First + 1));
    }
    // Whatever the optimizer step waited for, its preconditioning waits for now.
    const size_t Old = P.Edges.size();
    for (size_t I = 0; I < Old; ++I) {
      TaskId &To = P.Edges[I].second;
      if (To < static_cast<TaskId>(Redirect.size()) && Redirect[To] != NoTask)
        To = Redirect[To];
    }
    for (size_t Opt = 0; Opt < Redirect.size(); ++Opt)
      if (Redirect[Opt] != NoTask)
        P.addEdge(Redirect[Opt], static_cast<TaskId>(Opt));
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

  /// Sizes the task, edge and stream vectors once for what run() adds (it
  /// doubles the tasks of a plan, which would otherwise be copied as the
  /// vectors grow): per block of a stage, \p CurvPieces curvature tasks per
  /// micro-batch, each with an edge in and one out, the factor all-reduce
  /// and \p InvPieces inversion pieces; a preconditioning task per stage.
  static void reserveFor(Program &P, const std::vector<TaskId> &Fwd,
                         const std::vector<TaskId> &OptStep, int32_t Blocks,
                         int32_t CurvPieces, int32_t InvPieces) {
    const int32_t N = P.Options.microbatches();
    int64_t Tasks = 0, Edges = 0;
    std::vector<int64_t> PerDevice(P.numDevices(), 0);
    for (int32_t S = 0; S < P.numStages(); ++S) {
      const Stage &St = P.Stages[S];
      const int64_t Layers =
          std::max(0, std::min(Blocks, St.LayerEnd - 1) - std::max(1, St.LayerBegin) + 1);
      int64_t Mbs = 0;
      for (int32_t Mb = 0; Mb < N; ++Mb)
        Mbs += Fwd[static_cast<size_t>(S) * N + Mb] != NoTask;
      const int64_t Stage = Layers * (Mbs * CurvPieces + 1 + InvPieces);
      Tasks += Stage + 1;
      Edges += Layers * (2 * Mbs * CurvPieces + 2 + InvPieces) + 2 * (OptStep[S] != NoTask);
      PerDevice[St.Device] += Stage + 1;
    }
    P.Tasks.reserve(P.Tasks.size() + Tasks);
    P.Edges.reserve(P.Edges.size() + Edges);
    for (int32_t D = 0; D < P.numDevices(); ++D) {
      auto &Compute = P.stream(D, proto::COMPUTE);
      Compute.reserve(Compute.size() + PerDevice[D]);
    }
  }

  /// Curvature of one micro-batch, in independent pieces over its token
  /// rows (each adds its rows' a^T a or g^T g to the factor) when longer than
  /// the piece limit; at most MaxCurvaturePieces, since there are many.
  static void addCurvature(Program &P, TaskKind Kind, const Stage &St, int32_t S, int32_t Mb,
                           int32_t Layer, double Ms, double MaxPiece, TaskId After,
                           std::vector<TaskId> &Out) {
    int32_t Pieces = piecesFor(Ms, MaxPiece, MaxCurvaturePieces);
    for (int32_t I = 0; I < Pieces; ++I) {
      Task T = cycleTask(Kind, St, S, Mb, Layer);
      T.DurationMs = Ms / Pieces;
      T.Piece = I;
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
                           double Ms, double MaxPiece, TaskId Sync,
                           const std::vector<TaskId> &Curvature) {
    int32_t Pieces = piecesFor(Ms, MaxPiece, MaxInversionPieces);
    TaskId Prev = NoTask;
    for (int32_t I = 0; I < Pieces; ++I) {
      Task T = cycleTask(Kind, St, S, -1, Layer);
      T.DurationMs = Ms / Pieces;
      T.Piece = I;
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
    Task T;
    T.Kind = proto::PRECONDITION;
    T.Stream = proto::COMPUTE;
    T.Device = P.Tasks[Opt].Device;
    T.Stage = S;
    T.DurationMs = Ms;
    TaskId Id = P.addTask(T);
    auto &Stream = P.stream(T.Device, proto::COMPUTE);
    Stream.pop_back(); // addTask appended it; it runs right before the optimizer step
    Stream.insert(std::find(Stream.begin(), Stream.end(), Opt), Id);
    return Id;
  }
};

} // namespace

std::unique_ptr<Pass> createKfacInsertPass() { return std::make_unique<KfacInsertPass>(); }

} // namespace pfc
