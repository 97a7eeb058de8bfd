//===- RunDriver.cpp - the pfc-run command line ----------------------------===//
//
// pfc-run: plan -> a scaled-down Transformer trained for --steps steps by the
// CPU executor following the plan's streams (backends/interp), at the
// learning rate of --lr-schedule (LrSchedule.h) set on every stage's
// optimizer before each step. Prints one line per step ("step N loss=...
// tokens/s=... ms=...", then " lr=..." with a schedule and " kl-clip=ν"
// with K-FAC), then the measured step time next to the plan's prediction;
// writes the losses CSV, the loss plot, the measured profile and the
// machine as a cluster (CpuCluster.h) when asked, each only on success.
// Exit codes as in Diagnostics.h. --backend cuda trains on the GPU through
// backends/interp/cuda (the trained parameters come back to the CPU
// replicas for validation); it exits with ExitNoDevice (3) in a build
// without CUDA, on a machine without a GPU and on a CUDA failure.
//
//===----------------------------------------------------------------------===//
#include "RunDriver.h"

#include "InputLoader.h"

#include "backends/PlanIO.h"
#include "backends/interp/CpuCluster.h"
#include "backends/interp/Data.h"
#include "backends/interp/DataParallel.h"
#include "backends/interp/Executor.h"
#include "backends/interp/LrSchedule.h"
#include "backends/interp/PlanScale.h"
#include "backends/interp/RunReport.h"
#ifdef PFC_HAVE_CUDA
#include "backends/interp/cuda/CudaTrainer.h"
#endif
#include "ir/Diagnostics.h"
#include "ir/PlanConversion.h"
#include "ir/Verifier.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace cl = llvm::cl;

namespace pfc {
namespace {

using namespace interp;

enum class Backend { Cpu, Cuda };
enum class OptKind { Plan, Sgd, Adam, Kfac };
enum class DataKind { Corpus, Teacher };
enum class Precision { Fp32, Fp64 };

cl::OptionCategory Category("pfc-run options");
cl::opt<std::string> PlanPath(cl::Positional, cl::desc("<plan>"), cl::Required, cl::cat(Category));
cl::opt<Backend, false, ValuesParser<Backend>> BackendOpt(
    "backend", cl::desc("where to run (default cpu)"), cl::init(Backend::Cpu),
    cl::values(clEnumValN(Backend::Cpu, "cpu", "the CPU interpreter"),
               clEnumValN(Backend::Cuda, "cuda", "one CUDA GPU")),
    cl::cat(Category));
cl::opt<int> StepsOpt("steps", cl::desc("training steps (default 10)"), cl::init(10),
                      cl::cat(Category));
cl::opt<OptKind, false, ValuesParser<OptKind>> OptimizerOpt(
    "optimizer", cl::desc("default: kfac for a K-FAC plan, else sgd"), cl::init(OptKind::Plan),
    cl::values(clEnumValN(OptKind::Sgd, "sgd", "SGD with momentum 0.9"),
               clEnumValN(OptKind::Adam, "adam", "AdamW"),
               clEnumValN(OptKind::Kfac, "kfac", "K-FAC through the plan's tasks")),
    cl::cat(Category));
cl::opt<DataKind, false, ValuesParser<DataKind>> DataOpt(
    "data", cl::desc("training data (default corpus)"), cl::init(DataKind::Corpus),
    cl::values(clEnumValN(DataKind::Corpus, "corpus", "byte-level text (--corpus)"),
               clEnumValN(DataKind::Teacher, "teacher", "synthetic teacher-student task")),
    cl::cat(Category));
cl::opt<std::string> CorpusOpt("corpus", cl::desc("text file or directory (default the base-"
                                                  "files licences)"),
                               cl::init(DefaultCorpus), cl::cat(Category));
cl::opt<std::string> LossesOpt("losses", cl::desc("write per-step losses as CSV"),
                               cl::value_desc("FILE"), cl::cat(Category));
cl::opt<std::string> LossSvgOpt("loss-svg", cl::desc("draw the loss curve(s) as SVG"),
                                cl::value_desc("FILE"), cl::cat(Category));
cl::opt<std::string> ProfileOpt("profile-out",
                                cl::desc("write measured per-block times (PipeFisher CSV)"),
                                cl::value_desc("FILE"), cl::cat(Category));
cl::opt<bool> TaskTimesOpt("task-times",
                           cl::desc("print planned and measured time per task kind"),
                           cl::cat(Category));
cl::opt<std::string> ClusterOutOpt(
    "cluster-out", cl::desc("write this machine as a pfc cluster (CPU rates, channel latency)"),
    cl::value_desc("FILE"), cl::cat(Category));
cl::opt<int> LayersOpt("layers-per-stage", cl::desc("blocks per stage (0: the plan's)"),
                       cl::init(0), cl::cat(Category));
cl::opt<int> HiddenOpt("hidden", cl::init(0), cl::desc("hidden size (0: the plan's)"),
                       cl::cat(Category));
cl::opt<int> HeadsOpt("heads", cl::init(0), cl::desc("attention heads (0: the plan's)"),
                      cl::cat(Category));
cl::opt<int> SeqOpt("seq", cl::init(0), cl::desc("sequence length (0: the plan's)"),
                    cl::cat(Category));
cl::opt<int> VocabOpt("vocab", cl::init(0), cl::desc("vocabulary (corpus: 256)"),
                      cl::cat(Category));
cl::opt<int> MicroBatchOpt("micro-batch", cl::init(0),
                           cl::desc("sequences per micro-batch (0: the plan's)"),
                           cl::cat(Category));
cl::opt<unsigned> SeedOpt("seed", cl::init(1), cl::desc("parameters and data"),
                          cl::cat(Category));
cl::opt<Precision, false, ValuesParser<Precision>> PrecisionOpt(
    "precision", cl::desc("default fp32"), cl::init(Precision::Fp32),
    cl::values(clEnumValN(Precision::Fp32, "fp32", "float"),
               clEnumValN(Precision::Fp64, "fp64", "double")),
    cl::cat(Category));
cl::opt<double> LrOpt("lr",
                      cl::desc("learning rate, the peak of --lr-schedule (default sgd 0.1, "
                               "adam 0.003, kfac 0.1)"),
                      cl::init(0), cl::cat(Category));
cl::opt<LrSchedule::Kind, false, ValuesParser<LrSchedule::Kind>> LrScheduleOpt(
    "lr-schedule",
    cl::desc("learning rate over the steps, after --warmup-steps (default constant); the "
             "same for sgd, adam and kfac"),
    cl::init(LrSchedule::Constant),
    cl::values(clEnumValN(LrSchedule::Constant, "constant", "--lr throughout"),
               clEnumValN(LrSchedule::Cosine, "cosine",
                          "half a cosine from --lr down to --lr-min-ratio x --lr at the last step"),
               clEnumValN(LrSchedule::Linear, "linear",
                          "a line from --lr down to --lr-min-ratio x --lr at the last step")),
    cl::cat(Category));
cl::opt<int> LrWarmupOpt("warmup-steps",
                         cl::desc("learning-rate warm-up: step t <= W trains at t/W x --lr "
                                  "(default 0; at most --steps)"),
                         cl::value_desc("W"), cl::init(0), cl::cat(Category));
cl::opt<double> LrMinRatioOpt("lr-min-ratio",
                              cl::desc("the last step's rate over --lr, in [0, 1], for "
                                       "--lr-schedule cosine or linear (default 0)"),
                              cl::init(0), cl::cat(Category));
cl::opt<double> MomentumOpt("momentum",
                            cl::desc("momentum of SGD and of K-FAC's update, in [0, 1) "
                                     "(default 0.9)"),
                            cl::init(0.9), cl::cat(Category));
cl::opt<double> AdamBeta1Opt("adam-beta1",
                             cl::desc("AdamW's first-moment decay beta1, in [0, 1) "
                                      "(default 0.9)"),
                             cl::init(0.9), cl::cat(Category));
cl::opt<double> AdamBeta2Opt("adam-beta2",
                             cl::desc("AdamW's second-moment decay beta2, in [0, 1) "
                                      "(default 0.999)"),
                             cl::init(0.999), cl::cat(Category));
cl::opt<int> WarmupOpt("kfac-warmup", cl::desc("steps refreshing K-FAC every step (default 20)"),
                       cl::init(20), cl::cat(Category));

cl::opt<double> DampingOpt("kfac-damping", cl::desc("K-FAC damping lambda (default 0.03)"),
                           cl::init(0.03), cl::cat(Category));
cl::opt<double> KlClipOpt("kfac-kl-clip",
                          cl::desc("K-FAC KL clip kappa (default 0.001; 0: no clip)"),
                          cl::init(0.001), cl::cat(Category));
cl::opt<double> DecayOpt("kfac-decay",
                         cl::desc("K-FAC factors' running-average decay rho, in [0, 1) "
                                  "(default 0.95)"),
                         cl::init(0.95), cl::cat(Category));
cl::opt<bool> KfacEmbeddingOpt(
    "kfac-embedding",
    cl::desc("K-FAC also preconditions the embedding tables (diagonal A: lookup counts); "
             "one pipeline, cpu backend"),
    cl::cat(Category));

/// The K-FAC options of the command line (both backends).
KfacOptions kfacOptions() {
  KfacOptions O;
  O.Sgd.Lr = LrOpt > 0 ? LrOpt : 0.1;
  O.Sgd.Momentum = MomentumOpt;
  O.Damping = DampingOpt;
  O.KlClip = KlClipOpt; // 0: no clip (klClipFactor)
  O.Decay = DecayOpt;
  O.PlanDriven = true;
  return O;
}

struct Setup {
  Program Plan;
  ModelConfig Config;
  OptKind Opt = OptKind::Sgd;
  bool PlanKfac = false;
  int32_t DataParallel = 1; ///< replicas of the plan, expanded into Plan
};

#ifdef PFC_HAVE_CUDA
template <typename T> using GpuTrainer = cuda::Trainer<T>;
#else
/// Stands in for the CUDA trainer in builds without CUDA (never created).
template <typename T> struct GpuTrainer {
  llvm::Expected<StepResult> runStep(std::span<const Batch>) { return StepResult(); }
  llvm::Error download(const std::vector<Model<T> *> &) { return llvm::Error::success(); }
  void setLearningRate(double) {}
  double klClip() const { return 1; }
};
#endif

llvm::Expected<Setup> prepare() {
#ifdef PFC_HAVE_CUDA
  if (BackendOpt == Backend::Cuda)
    if (llvm::Error E = cuda::requireDevice())
      return E;
#else
  if (BackendOpt == Backend::Cuda)
    return llvm::make_error<UserError>(
        "pfc-run: error: --backend cuda is unavailable: this pfc-run was built without CUDA "
        "(use --backend cpu)",
        ExitNoDevice);
#endif
  if (StepsOpt < 1)
    return userError("pfc-run: error: --steps must be at least 1 (got {})", StepsOpt.getValue());
  if (!(LrOpt >= 0) || !std::isfinite(LrOpt))
    return userError("pfc-run: error: --lr must be a positive number, or 0 for the optimizer's "
                     "default (got {})",
                     LrOpt.getValue());
  if (LrWarmupOpt < 0 || LrWarmupOpt > StepsOpt)
    return userError("pfc-run: error: --warmup-steps must be in [0, --steps] = [0, {}] (got {})",
                     StepsOpt.getValue(), LrWarmupOpt.getValue());
  if (!(LrMinRatioOpt >= 0 && LrMinRatioOpt <= 1))
    return userError("pfc-run: error: --lr-min-ratio must be in [0, 1] (got {})",
                     LrMinRatioOpt.getValue());
  if (LrMinRatioOpt.getNumOccurrences() && LrScheduleOpt == LrSchedule::Constant)
    return userError("pfc-run: error: --lr-min-ratio needs --lr-schedule cosine or linear (the "
                     "constant schedule does not decay)");
  if (!(DampingOpt > 0) || !std::isfinite(DampingOpt))
    return userError("pfc-run: error: --kfac-damping must be a positive number (got {})",
                     DampingOpt.getValue());
  if (!(MomentumOpt >= 0 && MomentumOpt < 1))
    return userError("pfc-run: error: --momentum must be in [0, 1) (got {})",
                     MomentumOpt.getValue());
  for (const cl::opt<double> *Beta : {&AdamBeta1Opt, &AdamBeta2Opt})
    if (!(*Beta >= 0 && *Beta < 1))
      return userError("pfc-run: error: --{} must be in [0, 1) (got {})", Beta->ArgStr,
                       Beta->getValue());
  if (!(DecayOpt >= 0 && DecayOpt < 1))
    return userError("pfc-run: error: --kfac-decay must be in [0, 1) (got {})",
                     DecayOpt.getValue());
  if (!(KlClipOpt >= 0) || !std::isfinite(KlClipOpt))
    return userError("pfc-run: error: --kfac-kl-clip must be a number >= 0, 0 for no clip (got {})",
                     KlClipOpt.getValue());
  for (auto [Name, V] : {std::pair{"layers-per-stage", LayersOpt.getValue()},
                         {"hidden", HiddenOpt.getValue()}, {"heads", HeadsOpt.getValue()},
                         {"seq", SeqOpt.getValue()}, {"vocab", VocabOpt.getValue()},
                         {"micro-batch", MicroBatchOpt.getValue()},
                         {"kfac-warmup", WarmupOpt.getValue()}})
    if (V < 0)
      return userError("pfc-run: error: --{} must not be negative (got {})", Name, V);
  for (llvm::StringRef Out : {llvm::StringRef(LossesOpt), llvm::StringRef(LossSvgOpt),
                              llvm::StringRef(ProfileOpt), llvm::StringRef(ClusterOutOpt)})
    if (!Out.empty())
      if (llvm::Error E = checkOutputPath(Out, "output"))
        return E;
  llvm::Expected<Program> P = loadPlan(PlanPath);
  if (!P)
    return P.takeError();
  // The executor follows the plan's streams and edges as they are: a plan
  // that breaks an invariant (a task on another stage's device, a stage
  // over blocks the model lacks) is refused before anything is built.
  if (llvm::Error E = verifyProgram(*P))
    return llvm::handleErrors(std::move(E), [&](const UserError &U) -> llvm::Error {
      llvm::StringRef Text(U.text());
      Text.consume_front("pfc: error: ");
      return llvm::make_error<UserError>(
          fmt::format("pfc-run: error: {}: the plan is not valid ({}); compile it again or check "
                      "it with `pfc opt PLAN --passes=verify`",
                      PlanPath.getValue(), Text.str()),
          U.exitCode());
    });
  Setup S{std::move(*P), {}, OptimizerOpt, false};
  for (const Task &Tk : S.Plan.Tasks)
    S.PlanKfac |= isCycleTask(Tk.Kind) || Tk.Kind == proto::PRECONDITION;
  if (S.Opt == OptKind::Plan)
    S.Opt = S.PlanKfac ? OptKind::Kfac : OptKind::Sgd;
  if (S.Opt == OptKind::Kfac && !S.PlanKfac)
    return userError("pfc-run: error: {}: the plan has no K-FAC tasks; compile it with "
                     "`pfc compile --optimizer kfac`",
                     PlanPath.getValue());
  if (LayersOpt > 0)
    if (llvm::Error E = scaleStages(S.Plan, LayersOpt))
      return E;
  if (MomentumOpt.getNumOccurrences() && S.Opt == OptKind::Adam)
    return userError("pfc-run: error: --momentum is for sgd and kfac (AdamW's is --adam-beta1)");
  for (const cl::opt<double> *Beta : {&AdamBeta1Opt, &AdamBeta2Opt})
    if (Beta->getNumOccurrences() && S.Opt != OptKind::Adam)
      return userError("pfc-run: error: --{} needs --optimizer adam", Beta->ArgStr);
  if (KfacEmbeddingOpt && S.Opt != OptKind::Kfac)
    return userError("pfc-run: error: --kfac-embedding needs K-FAC (a K-FAC plan, --optimizer "
                     "kfac)");
  if (KfacEmbeddingOpt && BackendOpt == Backend::Cuda)
    return userError("pfc-run: error: --kfac-embedding is not available with --backend cuda "
                     "yet");
  if (KfacEmbeddingOpt && (S.Plan.numPipelines() > 1 || S.Plan.Options.data_parallel() > 1))
    return userError("pfc-run: error: --kfac-embedding needs a plan with one pipeline (the "
                     "embedding's factors are not all-reduced); {} has {}",
                     PlanPath.getValue(),
                     S.Plan.numPipelines() > 1
                         ? fmt::format("{} pipelines", S.Plan.numPipelines())
                         : fmt::format("{} data-parallel replicas",
                                       S.Plan.Options.data_parallel()));
  S.DataParallel = std::max(1, S.Plan.Options.data_parallel());
  // Micro-batches whose activations the whole model holds at once: each
  // stage's blocks times its device's peak in flight (the memory pass's),
  // over the blocks; all of them when the plan has no memory figures.
  double BlockInFlight = 0, Blocks = 0;
  for (const Stage &St : S.Plan.Stages) {
    const double Own = std::max(1, St.LayerEnd - St.LayerBegin);
    const int32_t Peak = static_cast<size_t>(St.Device) < S.Plan.Stats.size()
                             ? S.Plan.Stats[St.Device].PeakInflight
                             : 0;
    BlockInFlight += Own * (Peak > 0 ? Peak : S.Plan.Options.microbatches());
    Blocks += Own;
  }
  const int64_t InFlight =
      S.DataParallel * std::max<int64_t>(1, std::llround(BlockInFlight / std::max(1.0, Blocks)));
  llvm::Expected<Program> Replicated = expandDataParallel(S.Plan);
  if (!Replicated)
    return Replicated.takeError();
  S.Plan = std::move(*Replicated);
  ModelScale Scale;
  Scale.Hidden = HiddenOpt, Scale.Heads = HeadsOpt, Scale.Seq = SeqOpt;
  Scale.Vocab = VocabOpt > 0 ? VocabOpt : DataOpt == DataKind::Corpus ? ByteVocab : 0;
  Scale.MicroBatch = MicroBatchOpt;
  if (DataOpt == DataKind::Corpus && Scale.Vocab < ByteVocab)
    return userError("pfc-run: error: --data corpus uses byte tokens: --vocab must be at least "
                     "{} (got {})",
                     ByteVocab, Scale.Vocab);
  llvm::Expected<ModelConfig> C = scaledConfig(S.Plan.Model, Scale, SeedOpt);
  if (!C)
    return C.takeError();
  // Refuse what cannot fit this machine before allocating it (a huge
  // --hidden or --seq would swap, or be killed).
  if (llvm::Error E = checkRunFits(*C, S.Plan.numPipelines(), InFlight,
                                   PrecisionOpt == Precision::Fp64 ? 8 : 4))
    return E;
  S.Config = *C;
  return S;
}

template <typename T> llvm::Error train(Setup &S) {
  const Program &P = S.Plan;
  const ModelConfig &C = S.Config;
  std::optional<Corpus> Text;
  if (DataOpt == DataKind::Corpus) {
    auto Loaded = loadCorpus(CorpusOpt, 0.1, C.Seq);
    if (!Loaded)
      return Loaded.takeError();
    Text = std::move(*Loaded);
  }
  const int32_t Pipelines = P.numPipelines();
  std::vector<std::unique_ptr<Model<T>>> Models;
  std::vector<Model<T> *> Replicas;
  for (int32_t I = 0; I < Pipelines; ++I)
    Replicas.push_back(Models.emplace_back(std::make_unique<Model<T>>(C)).get());
  auto Exec = Executor<T>::create(P, Replicas);
  if (!Exec)
    return Exec.takeError();
  std::vector<std::unique_ptr<Optimizer<T>>> Opts;
  const char *OptName = S.Opt == OptKind::Kfac ? "kfac" : S.Opt == OptKind::Adam ? "adam" : "sgd";
  for (int32_t Id = 0; Id < P.numStages(); ++Id) {
    const Stage &St = P.Stages[Id];
    Model<T> &M = *Replicas[static_cast<size_t>(St.Pipeline)];
    ParamList<T> Params = M.params(St.LayerBegin, St.LayerEnd);
    if (S.Opt == OptKind::Adam) {
      AdamOptions O;
      O.Lr = LrOpt > 0 ? LrOpt : 3e-3;
      O.Beta1 = AdamBeta1Opt, O.Beta2 = AdamBeta2Opt;
      Opts.push_back(createAdamW(Params, O));
    } else if (S.Opt == OptKind::Sgd) {
      SgdOptions O;
      O.Lr = LrOpt > 0 ? LrOpt : 0.1;
      O.Momentum = MomentumOpt;
      Opts.push_back(createSgd(Params, O));
    } else {
      const KfacOptions O = kfacOptions();
      auto Blocks = M.linears(std::max(St.LayerBegin, 1), std::min(St.LayerEnd, C.Layers + 1));
      auto K = std::make_unique<KfacOptimizer<T>>(Params, Blocks, O);
      if (KfacEmbeddingOpt && St.LayerBegin == 0)
        K->setEmbedding(&M.Embed);
      Opts.push_back(std::move(K));
    }
    Exec->setOptimizer(Id, Opts.back().get());
  }
  Exec->setKfacWarmup(WarmupOpt);
  LrSchedule Sched;
  Sched.Shape = LrScheduleOpt, Sched.Base = Opts.front()->learningRate();
  Sched.Warmup = LrWarmupOpt, Sched.Steps = StepsOpt, Sched.MinRatio = LrMinRatioOpt;
  const bool Scheduled = Sched.Shape != LrSchedule::Constant || Sched.Warmup > 0;
  std::unique_ptr<GpuTrainer<T>> Gpu;
#ifdef PFC_HAVE_CUDA
  if (BackendOpt == Backend::Cuda) {
    cuda::TrainerOptions O;
    O.Optimizer = S.Opt == OptKind::Adam   ? cuda::TrainerOptions::Adam
                  : S.Opt == OptKind::Kfac ? cuda::TrainerOptions::Kfac
                                           : cuda::TrainerOptions::Sgd;
    O.SgdOpts.Lr = LrOpt > 0 ? LrOpt : 0.1;
    O.SgdOpts.Momentum = MomentumOpt;
    O.AdamOpts.Lr = LrOpt > 0 ? LrOpt : 3e-3;
    O.AdamOpts.Beta1 = AdamBeta1Opt, O.AdamOpts.Beta2 = AdamBeta2Opt;
    O.KfacOpts = kfacOptions();
    O.KfacWarmup = WarmupOpt;
    auto G = cuda::Trainer<T>::create(P, Replicas, O);
    if (!G)
      return G.takeError();
    Gpu = std::move(*G);
    llvm::outs() << fmt::format("pfc-run: backend cuda on {}\n", cuda::deviceName());
  }
#endif
  const int32_t N = P.Options.microbatches();
  llvm::outs() << fmt::format(
      "pfc-run: {} stages on {} devices, {} micro-batches of {} x {} tokens; model: {} blocks, "
      "hidden {}, heads {}, vocab {}; {} ({}), data {}{}; lr {:g}{}{}\n",
      P.numStages(), P.numDevices(), N, C.MicroBatch, C.Seq, C.Layers, C.Hidden, C.Heads,
      C.Vocab, OptName, PrecisionOpt == Precision::Fp64 ? "fp64" : "fp32",
      DataOpt == DataKind::Corpus ? "corpus" : "teacher",
      S.Opt == OptKind::Kfac ? fmt::format(", refresh cycle {} steps, warm-up {}",
                                           std::max(1, P.Time.CycleSteps), WarmupOpt.getValue())
                             : "",
      Sched.Base,
      !Scheduled ? ""
      : Sched.Shape == LrSchedule::Constant
          ? fmt::format(", constant after a {}-step warm-up", Sched.Warmup)
          : fmt::format(", {} to {:g} x lr after a {}-step warm-up", LrSchedule::name(Sched.Shape),
                        Sched.MinRatio, Sched.Warmup),
      S.DataParallel > 1
          ? fmt::format("; {} data-parallel replicas of the plan{}", S.DataParallel,
                        P.Options.zero() > 0
                            ? fmt::format(", ZeRO stage {} (each stage in {} shards)",
                                          P.Options.zero(), P.numPipelines())
                            : "")
          : "");
  LossCurve Train{"train", {}}, Valid{"valid", {}};
  std::vector<double> TokensPerS, StepMs;
  std::vector<std::vector<double>> Measured;
  // Steps the plan's step time describes: after the first (first-touch
  // allocations) and, for K-FAC, after the warm-up or, without one, after
  // the first refresh cycle (before it no inverse exists to precondition).
  const int64_t FirstSteady = std::min<int64_t>(
      StepsOpt - 1, S.Opt != OptKind::Kfac ? 1
                    : WarmupOpt > 0        ? std::max(1, WarmupOpt.getValue())
                                           : std::max(1, P.Time.CycleSteps));
  bool Diverged = false;
  for (int64_t Step = 0; Step < StepsOpt; ++Step) {
    std::vector<Batch> Batches;
    for (int32_t M = 0; M < N; ++M) {
      const int64_t Index = Step * N + M;
      Batches.push_back(Text ? corpusBatch(Text->Train, C.Seq, C.Seed, Index, C.MicroBatch)
                             : syntheticBatch(C, C.Seed, static_cast<int32_t>(Index),
                                              C.MicroBatch));
    }
    const double Lr = Sched.at(Step + 1);
    for (const std::unique_ptr<Optimizer<T>> &O : Opts)
      O->setLearningRate(Lr);
    if (Gpu)
      Gpu->setLearningRate(Lr);
    auto R = Gpu ? Gpu->runStep(Batches) : Exec->runStep(Batches);
    if (!R)
      return R.takeError();
    const double Tokens = double(N) * C.MicroBatch * C.Seq;
    TokensPerS.push_back(Tokens / (R->StepMs / 1000));
    StepMs.push_back(R->StepMs);
    Train.Points.emplace_back(Step + 1, R->Loss);
    if (Step >= FirstSteady)
      Measured.push_back(R->TaskMs);
    // K-FAC: the step's KL-clip factor ν (every stage steps with the same).
    std::string Clip;
    if (S.Opt == OptKind::Kfac)
      Clip = fmt::format(" kl-clip={:.4g}",
                         Gpu ? Gpu->klClip()
                             : static_cast<const KfacOptimizer<T> &>(*Opts.front()).lastClip());
    llvm::outs() << fmt::format("step {} loss={:.6f} tokens/s={:.0f} ms={:.2f}{}{}\n", Step + 1,
                                R->Loss, TokensPerS.back(), R->StepMs,
                                Scheduled ? fmt::format(" lr={:.6g}", Lr) : "", Clip);
    if (!std::isfinite(R->Loss) && !Diverged) {
      Diverged = true; // said once; the run goes on, as asked
      llvm::outs().flush();
      llvm::errs() << fmt::format("pfc-run: warning: the loss is {} at step {}: training "
                                  "diverged (learning rate {:.6g}; a lower --lr may help)\n",
                                  R->Loss, Step + 1, Lr);
    }
  }
  if (Gpu)
    if (llvm::Error E = Gpu->download(Replicas))
      return E;
  if (Text) {
    // Validation: a forward and backward of fixed held-out windows on the
    // first replica (the backward frees the saved state; gradients are
    // zeroed by the next step).
    Batch B = corpusBatch(Text->Valid, C.Seq, C.Seed + 1, 0, 8);
    Model<T> &M = *Replicas[0];
    Tensor<T> Loss = M.forward(0, M.numLayers(), -1, B, {});
    M.backward(0, M.numLayers(), -1, {}, T(1));
    for (Linear<T> *L : M.linears())
      L->CurvatureInputs.clear(), L->CurvatureGrads.clear();
    M.Embed.CurvatureIds.clear(), M.Embed.CurvatureGrads.clear();
    Valid.Points.emplace_back(StepsOpt, static_cast<double>(Loss[0]));
    llvm::outs() << fmt::format("valid loss={:.6f} ({} held-out windows)\n", Loss[0], B.Sequences);
  }
  std::vector<double> Sorted(StepMs.begin() + FirstSteady, StepMs.end());
  std::sort(Sorted.begin(), Sorted.end());
  const size_t Half = Sorted.size() / 2;
  const double Median =
      Sorted.size() % 2 ? Sorted[Half] : (Sorted[Half - 1] + Sorted[Half]) / 2;
  llvm::outs() << fmt::format("step time: measured {:.3f} ms (median of steps {}-{}), "
                              "plan predicts {:.3f} ms ({:+.1f}%)\n",
                              Median, FirstSteady + 1, StepsOpt.getValue(), P.Time.StepTimeMs,
                              Median > 0 ? 100 * (P.Time.StepTimeMs - Median) / Median : 0.0);
  if (TaskTimesOpt)
    llvm::outs() << taskKindTable(P, Measured);
  if (!LossesOpt.empty())
    if (llvm::Error E = writeFileAtomically(
            LossesOpt, lossCsv(Train, Text ? &Valid : nullptr, TokensPerS, StepMs)))
      return E;
  if (!LossSvgOpt.empty()) {
    std::vector<LossCurve> Curves{Train};
    if (Text)
      Curves.push_back(Valid);
    if (llvm::Error E = writeFileAtomically(
            LossSvgOpt, lossSvg(Curves, fmt::format("pfc-run {} loss", OptName))))
      return E;
  }
  if (!ProfileOpt.empty()) {
    // Layers alone on the first replica (a fresh micro-batch), to split the
    // stages' measured times between embedding, blocks and head.
    Batch B = Text ? corpusBatch(Text->Train, C.Seq, C.Seed + 2, 0, C.MicroBatch)
                   : syntheticBatch(C, C.Seed + 2, 0, C.MicroBatch);
    const LayerTimes Alone = timeLayers(*Replicas[0], B, 5);
    std::vector<int64_t> StageParams;
    for (const Stage &St : P.Stages) {
      int64_t Count = 0;
      for (Param<T> *Pm : Replicas[static_cast<size_t>(St.Pipeline)]->params(St.LayerBegin,
                                                                               St.LayerEnd))
        Count += Pm->Value.numel();
      StageParams.push_back(Count);
    }
    const BlockTimes Times = measureBlockTimes(P, Measured, Alone, StageParams, blockParams(C));
    if (llvm::Error E = writeFileAtomically(ProfileOpt, profileCsv(Times, C, sizeof(T))))
      return E;
  }
  if (!ClusterOutOpt.empty())
    if (llvm::Error E = writeFileAtomically(
            ClusterOutOpt, cpuClusterTextproto(measureCpu(C), P.numDevices())))
      return E;
  return llvm::Error::success();
}

llvm::Error run() {
  llvm::Expected<Setup> S = prepare();
  if (!S)
    return S.takeError();
  return PrecisionOpt == Precision::Fp64 ? train<double>(*S) : train<float>(*S);
}

} // namespace

int pfcRunMain(int Argc, char **Argv) {
  cl::HideUnrelatedOptions(Category);
  std::vector<char *> Args(Argv, Argv + Argc);
  char ToolName[] = "pfc-run";
  Args[0] = ToolName;
  std::string Errors;
  llvm::raw_string_ostream ErrOS(Errors);
  if (!cl::ParseCommandLineOptions(
          Argc, Args.data(),
          "pfc-run: train a scaled-down model by following a pfc plan\n\n"
          "  pfc-run PLAN [--backend cpu|cuda] [--steps N] [--optimizer sgd|adam|kfac]\n"
          "          [--data corpus|teacher] [--lr R] [--lr-schedule constant|cosine|linear]\n"
          "          [--warmup-steps W] [--lr-min-ratio r] [--losses FILE.csv]\n"
          "          [--profile-out FILE] [--cluster-out FILE] [--task-times]\n\n"
          "Exit codes: 0 success; 2 user error (bad plan, flag or file); 3 --backend cuda\n"
          "unavailable (no CUDA in this build, no GPU) or failed on the GPU; 1 internal error.\n",
          &ErrOS)) {
    llvm::errs() << formatCommandLineErrors("pfc-run", ErrOS.str());
    return ExitUserError;
  }
  if (llvm::Error E = run())
    return reportError("pfc-run", std::move(E));
  return ExitOk;
}

} // namespace pfc
