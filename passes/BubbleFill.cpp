//===- BubbleFill.cpp - K-FAC work into pipeline bubbles -------------------===//
//
// Places the cycle tasks of kfac-insert into the idle gaps of a cycle of k
// consecutive steps, choosing the smallest k for which everything fits
// without making the step longer (CycleScheduler does the placing). The
// search tries the lower bound max_d ceil(work_d / idle_d) and one more
// step, then doubles and bisects. If no k up to the limit works (a
// curvature task longer than every gap after its forward, say), the step
// is stretched by the least amount (to 5% of it or 1% of the step) that
// makes it fit, searched from a lower bound that counts only the gaps each
// task length fits in, and a warning says by how much and why.
//
// Results: cycle tasks get absolute start/end times in [0, k T) and their
// cycle step; every stream is reordered by time within the step; the
// KfacReport gets k, its lower bound, fill ratio, utilisation and memory.
//
//===----------------------------------------------------------------------===//
#include "CycleScheduler.h"
#include "KfacCosts.h"
#include "Pass.h"
#include "PassManager.h"
#include "Simulator.h"

#include "ir/Diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pfc {
namespace {

constexpr int DefaultMaxSteps = 64;

/// Simulates \p P; returns the step time and per-device busy time with
/// preconditioning free (the plan as a first-order optimizer would run it).
llvm::Expected<std::pair<double, std::vector<double>>> withoutKfac(Program &P) {
  llvm::Expected<StepSimulator> Sim = StepSimulator::create(P);
  if (!Sim)
    return Sim.takeError();
  Sim->run(P);
  std::vector<double> Busy;
  for (const DeviceStats &S : P.Stats)
    Busy.push_back(S.BusyMs);
  for (const Task &Tk : P.Tasks)
    if (Tk.Kind == proto::PRECONDITION)
      Busy[Tk.Device] -= Tk.DurationMs;
  return std::make_pair(Sim->stepTimeWithout(P, proto::PRECONDITION), Busy);
}

/// The most micro-batches the curvature could be estimated from with every
/// device's K-FAC compute work within \p Steps steps of its idle time \p Idle
/// (curvature work scales with them, inversions do not; a necessary
/// condition, not a placement), at most those it uses now, and the device
/// that sets it; 0 where not even one micro-batch would do.
struct SampleBound {
  int32_t Most = 0;
  int32_t Device = -1;
};
SampleBound curvatureMicrobatchesWithin(const Program &P, const CycleProblem &Problem,
                                        const std::vector<double> &Idle, int Steps) {
  const int32_t Now = P.Options.kfac().curvature_microbatches() > 0
                          ? P.Options.kfac().curvature_microbatches()
                          : P.Options.microbatches();
  std::vector<double> Curvature(Idle.size(), 0), Other(Idle.size(), 0);
  for (TaskId T : Problem.tasks()) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Stream == proto::COMPUTE)
      (Tk.Kind == proto::CURVATURE_A || Tk.Kind == proto::CURVATURE_B ? Curvature
                                                                        : Other)[Tk.Device] +=
          Tk.DurationMs;
  }
  double Most = Now;
  int32_t Device = -1;
  for (size_t D = 0; D < Idle.size(); ++D) {
    if (Curvature[D] <= 0)
      continue;
    const double Fits = std::max(0.0, Now * (Steps * Idle[D] - Other[D]) / Curvature[D]);
    if (Fits < Most)
      Most = Fits, Device = static_cast<int32_t>(D);
  }
  return {static_cast<int32_t>(std::floor(Most)), Device};
}

class BubbleFillPass : public Pass {
public:
  llvm::StringRef name() const override { return "bubble-fill"; }

  llvm::Expected<bool> run(Program &P) override {
    if (!P.Kfac.present())
      return false;
    if (P.Options.kfac().max_refresh_steps() > MaxRefreshSteps)
      return userError("pfc: error: bubble-fill: options.kfac.max_refresh_steps is {}; it must be "
                       "at most {} (0: {})",
                       P.Options.kfac().max_refresh_steps(), MaxRefreshSteps, DefaultMaxSteps);
    auto Before = withoutKfac(P);
    if (!Before)
      return Before.takeError();
    const double Step = P.Time.StepTimeMs;
    const int MaxSteps = P.Options.kfac().max_refresh_steps() > 0
                             ? P.Options.kfac().max_refresh_steps()
                             : DefaultMaxSteps;
    CycleSchedulerConfig Config;
    Config.FixedOrder = P.Options.kfac().placement() == proto::KfacOptions::PIPEFISHER;
    CycleProblem Problem(P);

    // Lower bound per device: K-FAC compute work over compute idle time per step.
    const int32_t Devices = P.numDevices();
    std::vector<double> Work(Devices, 0), Idle(Devices, 0);
    for (TaskId T : Problem.tasks())
      if (P.Tasks[T].Stream == proto::COMPUTE)
        Work[P.Tasks[T].Device] += P.Tasks[T].DurationMs;
    std::vector<int> Lower(Devices, 0);
    int LowerMax = 1;
    for (int32_t D = 0; D < Devices; ++D) {
      Idle[D] = Step - P.Stats[D].BusyMs;
      Lower[D] = Work[D] <= 0 ? 0
                 : Idle[D] <= 1e-12
                     ? std::numeric_limits<int>::max()
                     : static_cast<int>(std::ceil(Work[D] / Idle[D] - 1e-9));
      LowerMax = std::max(LowerMax, Lower[D]);
    }

    // Smallest feasible k: doubling from the lower bound, then bisection.
    CyclePlacement Starts;
    int K = 0;
    double StepUsed = Step;
    auto Try = [&](int Steps, double StepMs) {
      CyclePlacement S = Problem.place(P, StepMs, Steps, Config);
      if (!S.ok() && Problem.size() > 0)
        return false;
      Starts = std::move(S);
      K = Steps;
      StepUsed = StepMs;
      return true;
    };
    // No k below the lower bound can work: past the limit, go straight to
    // stretching the step.
    // Most plans fit at the bound or one step above it: try those first,
    // then double and bisect.
    int Lo = std::min(LowerMax, MaxSteps), Hi = -1;
    for (int Steps = Lo; LowerMax <= MaxSteps && Steps <= MaxSteps;
         Steps = Steps < LowerMax + 1 ? Steps + 1 : std::min(MaxSteps, Steps * 2)) {
      if (Try(Steps, Step)) {
        Hi = Steps;
        break;
      }
      Lo = Steps + 1;
      if (Steps == MaxSteps)
        break;
    }
    if (Hi > 0) {
      CyclePlacement Best = Starts;
      while (Lo < Hi) {
        int Mid = (Lo + Hi) / 2;
        if (Try(Mid, Step)) {
          Hi = Mid;
          Best = Starts;
        } else {
          Lo = Mid + 1;
        }
      }
      Starts = std::move(Best);
      K = Hi;
      StepUsed = Step;
    } else {
      // Stretch the step: the least extra time that makes it fit, to 5% of
      // it or 1% of the step. No less than the size-aware bound can do; the
      // placements found need some 10-20% more, so the first try is a
      // little above it and each miss widens the step twice as far.
      const double Floor = Problem.stretchBound(Step, MaxSteps);
      double Bad = Floor; // nothing below can fit; it may not itself
      double Widen = std::max({0.15 * Floor, 0.01 * Step, 1e-6});
      double Extra = Floor + Widen;
      for (; !Try(MaxSteps, Step + Extra); Widen *= 2) {
        Bad = Extra;
        Extra += Widen;
      }
      double Good = Extra;
      CyclePlacement Best = Starts;
      while (Good - Bad > std::max(0.05 * Good, 0.01 * Step)) {
        double Mid = (Good + Bad) / 2;
        if (Try(MaxSteps, Step + Mid)) {
          Good = Mid;
          Best = Starts;
        } else {
          Bad = Mid;
        }
      }
      Starts = std::move(Best);
      K = MaxSteps;
      StepUsed = Step + Good;
      // Why, where a device has work no gap of its step can hold.
      const CycleProblem::Misfit M = Problem.misfit(Step);
      const std::string Why =
          M.Lane < 0 ? ""
                     : fmt::format("; {} of device {}'s K-FAC tasks (up to {:.3f} ms) are longer "
                                   "than its longest gap ({:.3f} ms)",
                                   M.Tasks, M.Lane / NumStreams, M.LongestTask, M.LongestGap);
      // What sampling the curvature could do: with fewer micro-batches the
      // work no longer exceeds the bubbles.
      const SampleBound Fewer = curvatureMicrobatchesWithin(P, Problem, Idle, MaxSteps);
      const int32_t Now = P.Options.kfac().curvature_microbatches() > 0
                              ? P.Options.kfac().curvature_microbatches()
                              : P.Options.microbatches();
      const char *S = MaxSteps == 1 ? "" : "s";
      const std::string Hint =
          Fewer.Most < 1
              ? fmt::format(" (on device {} the K-FAC work exceeds the idle time of {} step{} "
                            "even with the curvature of one micro-batch)",
                            Fewer.Device, MaxSteps, S)
          : Fewer.Most < Now
              ? fmt::format(" (with --kfac-curvature-microbatches {} or fewer, of {}, the work "
                            "would no longer exceed the idle time of {} step{})",
                            Fewer.Most, P.Options.microbatches(), MaxSteps, S)
              : "";
      P.Warnings.push_back(fmt::format(
          "pfc: warning: bubble-fill: the K-FAC work does not fit the bubbles of {} step{}; the "
          "step grows by {:.3f} ms ({:.1f}%) to fit it{}{}",
          MaxSteps, MaxSteps == 1 ? "" : "s", Good, 100 * Good / Step, Why, Hint));
    }
    applyPlacement(P, Problem, Starts, StepUsed, K);
    writeReport(P, Problem, Before->first, Before->second, Step, Lower, Work, Idle);
    return true;
  }

private:
  static void applyPlacement(Program &P, const CycleProblem &Problem,
                             const CyclePlacement &Placement, double StepMs, int K) {
    const std::vector<double> &Starts = Placement.Start;
    const auto &Tasks = Problem.tasks();
    for (size_t I = 0; I < Tasks.size(); ++I) {
      TaskId T = Tasks[I];
      P.Time.Start[T] = Starts[I];
      P.Time.End[T] = Starts[I] + P.Tasks[T].DurationMs;
      // The step a task runs in: where it starts (it ends within that step).
      P.Tasks[T].CycleStep =
          std::min(K - 1, static_cast<int>(std::floor(Starts[I] / StepMs + 1e-12)));
      P.Tasks[T].DataLag = Placement.DataLag[I];
    }
    P.Time.CycleSteps = K;
    if (StepMs > P.Time.StepTimeMs) {
      P.Time.StepTimeMs = StepMs;
      double Share = 0;
      for (DeviceStats &S : P.Stats) {
        S.IdleMs = StepMs - S.BusyMs;
        Share += S.IdleMs / StepMs;
      }
      P.Time.BubbleFraction = Share / std::max<size_t>(1, P.Stats.size());
    }
    // Streams in order of time within the step; per-step tasks keep their
    // simulated order and come first on ties: sorted by (time within the
    // step, cycle task, its id or its position), merging the per-step tasks
    // (already in time order, as simulated) with the sorted cycle tasks.
    struct Keyed {
      double Relative;
      int32_t Tie; ///< position in the stream (per-step) or id (cycle)
      TaskId T;
    };
    auto Less = [](const Keyed &A, const Keyed &B) {
      return A.Relative != B.Relative ? A.Relative < B.Relative : A.Tie < B.Tie;
    };
    std::vector<Keyed> PerStep, Cycle;
    for (auto &Stream : P.Streams) {
      PerStep.clear();
      Cycle.clear();
      for (size_t I = 0; I < Stream.size(); ++I) {
        TaskId T = Stream[I];
        if (isCycleTask(P.Tasks[T].Kind))
          Cycle.push_back({P.Time.Start[T] - P.Tasks[T].CycleStep * StepMs, T, T});
        else
          PerStep.push_back({P.Time.Start[T], static_cast<int32_t>(I), T});
      }
      const bool InOrder = std::is_sorted(PerStep.begin(), PerStep.end(), Less);
      if (Cycle.empty() && InOrder)
        continue;
      if (!InOrder)
        std::sort(PerStep.begin(), PerStep.end(), Less);
      std::sort(Cycle.begin(), Cycle.end(), Less);
      // On equal times the per-step task goes first: merge takes from the
      // first range unless the second is strictly less.
      auto Out = Stream.begin();
      auto A = PerStep.begin(), B = Cycle.begin();
      while (A != PerStep.end() || B != Cycle.end())
        *Out++ = (B == Cycle.end() || (A != PerStep.end() && !(B->Relative < A->Relative)))
                     ? (A++)->T
                     : (B++)->T;
    }
  }

  static void writeReport(Program &P, const CycleProblem &Problem, double StepWithout,
                          const std::vector<double> &BusyWithout, double StepWith,
                          const std::vector<int> &Lower, const std::vector<double> &Work,
                          const std::vector<double> &Idle);
};


void BubbleFillPass::writeReport(Program &P, const CycleProblem &Problem, double StepWithout,
                                 const std::vector<double> &BusyWithout, double StepWith,
                                 const std::vector<int> &Lower, const std::vector<double> &Work,
                                 const std::vector<double> &Idle) {
  const int32_t Devices = P.numDevices();
  const int K = P.Time.CycleSteps;
  const double StepUsed = P.Time.StepTimeMs;
  const KfacBlockCost Cost = kfacBlockCost(P);
  const int32_t N = P.Options.microbatches();

  // Backward of every (stage, micro-batch): curvature keeps its inputs alive
  // past it.
  std::vector<TaskId> Bwd(static_cast<size_t>(P.numStages()) * N, NoTask);
  std::vector<double> Precondition(Devices, 0);
  for (TaskId T = 0; T < P.numTasks(); ++T) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Kind == proto::BACKWARD)
      Bwd[static_cast<size_t>(Tk.Stage) * N + Tk.Microbatch] = T;
    else if (Tk.Kind == proto::PRECONDITION)
      Precondition[Tk.Device] += Tk.DurationMs;
  }
  std::vector<std::vector<std::pair<double, int64_t>>> Events(Devices);
  std::vector<int> Refresh(Devices, 0);
  int Split = 0;
  for (TaskId T : Problem.tasks()) {
    const Task &Tk = P.Tasks[T];
    Refresh[Tk.Device] = std::max(
        Refresh[Tk.Device], static_cast<int>(std::ceil(P.Time.End[T] / StepUsed - 1e-9)));
    Split += (Tk.Kind == proto::INVERT_A || Tk.Kind == proto::INVERT_B) && Tk.Piece == 1;
    if (Tk.Kind != proto::CURVATURE_A && Tk.Kind != proto::CURVATURE_B)
      continue;
    // Its data is kept from the backward of its step (activations are alive
    // until then anyway) to its end; data of the previous cycle wraps around.
    TaskId B = Bwd[static_cast<size_t>(Tk.Stage) * N + Tk.Microbatch];
    double From = P.Time.End[B] + (Tk.CycleStep - Tk.DataLag) * StepUsed;
    if (P.Time.End[T] <= From)
      continue; // ran before its backward freed the activations: nothing extra kept
    // A piece keeps only its share of the rows (a piece lasts 1/pieces of the
    // whole), a task over several blocks the data of each.
    const bool IsA = Tk.Kind == proto::CURVATURE_A;
    const double Whole = (IsA ? Cost.CurvatureAMs : Cost.CurvatureBMs) * Tk.LayerCount;
    const double Pieces = Tk.DurationMs > 0 ? std::max(1.0, std::round(Whole / Tk.DurationMs)) : 1;
    int64_t Bytes =
        static_cast<int64_t>(static_cast<double>(IsA ? Cost.SavedInputBytes : Cost.SavedGradBytes) *
                             Tk.LayerCount / Pieces);
    auto Keep = [&](double A, double Z) {
      Events[Tk.Device].emplace_back(A, Bytes);
      Events[Tk.Device].emplace_back(Z, -Bytes);
    };
    if (From < 0) {
      Keep(From + K * StepUsed, K * StepUsed);
      From = 0;
    }
    Keep(From, P.Time.End[T]);
  }

  proto::KfacReport &R = P.Kfac;
  const bool PipeFisher = P.Options.kfac().placement() == proto::KfacOptions::PIPEFISHER;
  R.set_placement(PipeFisher ? "pipefisher" : "list");
  R.set_refresh_steps(K);
  R.set_step_time_ms_without(StepWithout);
  R.set_step_time_ms_with(StepUsed);
  R.set_stretch_ms(StepUsed - StepWith);
  R.set_tasks(Problem.size());
  R.set_split_inversions(Split);
  R.clear_devices();
  double WorkSum = 0, IdleSum = 0, UtilBefore = 0, UtilAfter = 0;
  int LowerMax = 0;
  for (int32_t D = 0; D < Devices; ++D) {
    auto &E = Events[D];
    std::sort(E.begin(), E.end(), [](auto A, auto B) {
      return A.first != B.first ? A.first < B.first : A.second < B.second; // frees first
    });
    int64_t Live = 0, Peak = 0;
    for (auto [Time, Bytes] : E)
      Peak = std::max(Peak, Live += Bytes);
    int32_t Blocks = 0;
    for (const Stage &St : P.Stages)
      if (St.Device == D)
        Blocks += std::max(0, std::min(P.Model.num_layers(), St.LayerEnd - 1) -
                                  std::max(1, St.LayerBegin) + 1);
    auto *O = R.add_devices();
    O->set_device(D);
    O->set_refresh_steps(Refresh[D]);
    O->set_lower_bound_steps(Lower[D] == std::numeric_limits<int>::max() ? -1 : Lower[D]);
    O->set_work_ms(Work[D]);
    O->set_precondition_ms(Precondition[D]);
    O->set_idle_ms_per_step(Idle[D]);
    O->set_utilization_before(StepWithout > 0 ? BusyWithout[D] / StepWithout : 0);
    O->set_utilization_after(StepUsed > 0 ? (P.Stats[D].BusyMs + Work[D] / K) / StepUsed : 0);
    O->set_factor_bytes(2 * Cost.FactorBytes * Blocks);
    O->set_saved_bytes(Peak);
    WorkSum += Work[D];
    IdleSum += Idle[D];
    UtilBefore += O->utilization_before();
    UtilAfter += O->utilization_after();
    LowerMax = std::max(LowerMax, O->lower_bound_steps() < 0 ? K : O->lower_bound_steps());
  }
  R.set_lower_bound_steps(LowerMax);
  R.set_fill_ratio(IdleSum > 0 ? WorkSum / (K * IdleSum) : 0);
  R.set_utilization_before(Devices ? UtilBefore / Devices : 0);
  R.set_utilization_after(Devices ? UtilAfter / Devices : 0);
}

} // namespace

std::unique_ptr<Pass> createBubbleFillPass() { return std::make_unique<BubbleFillPass>(); }

} // namespace pfc
