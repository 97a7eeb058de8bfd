//===- DumpUtil.cpp - what the timeline dumps share ------------------------===//
//
// The kind table below is the one place that decides how a task kind looks in
// every view. Colours follow the PipeFisher figures: forward and backward in
// blues, communication in greys, K-FAC curvature in oranges, inversion in
// reds, preconditioning in purple.
//
//===----------------------------------------------------------------------===//
#include "DumpUtil.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <tuple>

namespace pfc {
namespace {

/// Compute kinds first, as in the PipeFisher figures, then communication.
constexpr std::array<TaskKind, 16> LegendOrder = {
    proto::FORWARD,       proto::BACKWARD,          proto::CURVATURE_A,     proto::CURVATURE_B,
    proto::INVERT_A,      proto::INVERT_B,          proto::PRECONDITION,    proto::OPTIMIZER_STEP,
    proto::ALL_REDUCE,    proto::FACTOR_ALL_REDUCE, proto::SEND_ACTIVATION, proto::RECV_ACTIVATION,
    proto::SEND_GRADIENT, proto::RECV_GRADIENT,     proto::REDUCE_SCATTER,  proto::ALL_GATHER,
};

const KindStyle Unknown = {"other", "#dddddd", "#000000", "other", '?'};

} // namespace

const KindStyle &kindStyle(TaskKind K) {
  // ASCII: '(' ')' curvature, '/' and backslash inverses (A^-1 as right division,
  // B^-1 as left division). No letters (micro-batches use them) and nothing that
  // doubles into FileCheck's "{{" or "[[", so golden tests quote rows verbatim.
  static const KindStyle Styles[] = {
      Unknown,
      {"fwd", "#9ecae9", "#08306b", "forward", 'a'},
      {"bwd", "#3a78b5", "#ffffff", "backward", 'A'},
      {"send-act", "#bdbdbd", "#000000", "send activation", '>'},
      {"recv-act", "#9e9e9e", "#000000", "receive activation", '>'},
      {"send-grad", "#7f7f7f", "#ffffff", "send gradient", '<'},
      {"recv-grad", "#555555", "#ffffff", "receive gradient", '<'},
      {"all-reduce", "#6aa84f", "#ffffff", "gradient all-reduce", '='},
      {"optimizer", "#8c6d4f", "#ffffff", "optimizer step", '*'},
      {"curv-a", "#f28e2b", "#000000", "curvature A", '('},
      {"curv-b", "#ffbe7d", "#000000", "curvature B", ')'},
      {"factor-all-reduce", "#b5d99c", "#000000", "factor all-reduce", '~'},
      {"inv-a", "#d62728", "#ffffff", "inverse A", '/'},
      {"inv-b", "#ff9896", "#000000", "inverse B", '\\'},
      {"precondition", "#9467bd", "#ffffff", "precondition", '^'},
      {"reduce-scatter", "#38761d", "#ffffff", "gradient reduce-scatter", '%'},
      {"all-gather", "#93c47d", "#000000", "parameter all-gather", '&'},
  };
  auto I = static_cast<size_t>(K);
  return I < std::size(Styles) ? Styles[I] : Unknown;
}

std::span<const TaskKind> styledKinds() { return LegendOrder; }

std::string taskLabel(const Program &P, TaskId Id) {
  const Task &T = P.Tasks[Id];
  std::string S(taskKindName(T.Kind));
  if (T.Stage >= 0)
    S += fmt::format(" s{}", T.Stage);
  if (T.Microbatch >= 0)
    S += fmt::format(" m{}", T.Microbatch);
  if (T.Layer >= 0)
    S += T.LayerCount > 1 ? fmt::format(" L{}-{}", T.Layer, T.Layer + T.LayerCount - 1)
                          : fmt::format(" L{}", T.Layer);
  if (T.Piece > 0)
    S += fmt::format(" p{}", T.Piece);
  return S;
}

std::string planTitle(const Program &P) {
  const auto &O = P.Options;
  std::string Stages = fmt::format("{} stages", P.numStages());
  if (P.numStages() != P.numDevices())
    Stages += fmt::format(" on {} devices", P.numDevices());
  std::string S = fmt::format("{} on {}, {}, {} x {} micro-batches",
                              P.Model.name().empty() ? "model" : P.Model.name(),
                              P.Cluster.name().empty() ? "cluster" : P.Cluster.name(),
                              scheduleName(O.schedule()), Stages, O.microbatches());
  if (O.optimizer() == proto::KFAC)
    S += ", K-FAC";
  return S;
}

std::string notSimulatedMessage() {
  return "the plan is not simulated (no task times); run 'pfc opt PLAN --passes=simulate -o "
         "PLAN' first";
}

std::string tensorParallelText(const Program &P) {
  const auto &O = P.Options;
  if (O.tensor_parallel() <= 1 && O.recompute() == proto::RECOMPUTE_NONE)
    return "";
  return fmt::format("{} GPU{} (tensor parallel{})", std::max(1, O.tensor_parallel()),
                     O.tensor_parallel() > 1 ? "s" : "",
                     O.sequence_parallel() ? ", sequence parallel" : "");
}

int32_t cycleSteps(const Program &P) { return std::max(1, P.Time.CycleSteps); }

double timelineSpanMs(const Program &P) {
  double Span = cycleSteps(P) * P.Time.StepTimeMs;
  for (TaskId T = 0; T < P.numTasks(); ++T)
    if (isCycleTask(P.Tasks[T].Kind))
      Span = std::max(Span, P.Time.End[T]);
  return Span;
}

std::vector<Occurrence> occurrences(const Program &P) {
  std::vector<Occurrence> Out;
  const int32_t K = cycleSteps(P);
  const double Step = P.Time.StepTimeMs;
  for (TaskId T = 0; T < P.numTasks(); ++T) {
    double S = P.Time.Start[T], E = P.Time.End[T];
    if (isCycleTask(P.Tasks[T].Kind)) {
      Out.push_back({T, P.Tasks[T].CycleStep, S, E});
      continue;
    }
    for (int32_t I = 0; I < K; ++I)
      Out.push_back({T, I, S + I * Step, E + I * Step});
  }
  auto Key = [&](const Occurrence &O) {
    const Task &T = P.Tasks[O.Id];
    return std::tuple(T.Device, static_cast<int>(T.Stream), O.Start, O.Id);
  };
  std::sort(Out.begin(), Out.end(),
            [&](const Occurrence &A, const Occurrence &B) { return Key(A) < Key(B); });
  return Out;
}

bool streamInUse(const Program &P, int32_t D, StreamKind S) { return !P.stream(D, S).empty(); }

} // namespace pfc
