//===- Driver.cpp - the pfc command line -----------------------------------===//
//
// pfc compile: model + cluster (+ profile) -> passes -> plan file.
// pfc opt:     plan file -> passes -> plan file.
// Both verify after every pass unless --no-verify, write the output only on
// success, and exit with the codes of Diagnostics.h. The output path is
// checked before any work, so a bad -o fails fast.
//
//===----------------------------------------------------------------------===//
#include "Driver.h"

#include "InputLoader.h"
#include "backends/PlanIO.h"
#include "ir/Diagnostics.h"
#include "ir/PlanConversion.h"
#include "passes/PassManager.h"

#include <cmath>
#include <cstring>

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <google/protobuf/text_format.h>

namespace cl = llvm::cl;

namespace pfc {
namespace {

cl::OptionCategory Category("pfc options");
cl::SubCommand CompileCmd("compile", "compile a model and cluster into a plan");
cl::SubCommand OptCmd("opt", "run passes over an existing plan");

// compile
cl::opt<std::string> ModelOpt("model",
                              cl::desc("model: a .textproto/.json file or a preset "
                                       "(default bert-large)"),
                              cl::value_desc("M"), cl::init("bert-large"), cl::sub(CompileCmd),
                              cl::cat(Category));
cl::opt<std::string> ClusterOpt("cluster",
                                cl::desc("cluster: a .textproto/.json file or a preset "
                                         "(default v100-dgx1)"),
                                cl::value_desc("C"), cl::init("v100-dgx1"), cl::sub(CompileCmd),
                                cl::cat(Category));
cl::opt<std::string> ProfileOpt("profile",
                                cl::desc("measured per-block profile CSV (PipeFisher format); "
                                         "overrides the analytic block costs"),
                                cl::value_desc("P"), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<proto::Schedule, false, ValuesParser<proto::Schedule>> ScheduleOpt(
    "schedule", cl::desc("pipeline schedule (default 1f1b)"), cl::init(proto::ONE_F_ONE_B),
    cl::values(clEnumValN(proto::GPIPE, "gpipe", "all forwards, then all backwards"),
               clEnumValN(proto::ONE_F_ONE_B, "1f1b", "one forward, one backward"),
               clEnumValN(proto::INTERLEAVED, "interleaved",
                          "Megatron interleaved 1F1B (needs --virtual-stages)"),
               clEnumValN(proto::CHIMERA, "chimera", "bidirectional pipelines"),
               clEnumValN(proto::LAYERED, "layered",
                          "breadth-first order on a looping placement (--virtual-stages)")),
    cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> StagesOpt("stages", cl::desc("pipeline devices per replica (S, default 8)"),
                       cl::init(8), cl::value_desc("S"), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> MicrobatchesOpt("microbatches",
                             cl::desc("micro-batches per step per pipeline replica (N, "
                                      "default 16)"),
                             cl::init(16), cl::value_desc("N"), cl::sub(CompileCmd),
                             cl::cat(Category));
cl::opt<int> VirtualOpt("virtual-stages", cl::desc("model chunks per device (V)"), cl::init(1),
                        cl::value_desc("V"), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> DataParallelOpt("data-parallel", cl::desc("pipeline replicas (D)"), cl::init(1),
                             cl::value_desc("D"), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> ZeroOpt("zero",
                     cl::desc("ZeRO stage: shard optimizer state (1), and gradients (2), and "
                              "parameters (3) across the data-parallel replicas (default 0)"),
                     cl::init(0), cl::value_desc("0|1|2|3"), cl::sub(CompileCmd),
                     cl::cat(Category));
cl::opt<int> TensorParallelOpt(
    "tensor-parallel",
    cl::desc("GPUs per pipeline device, Megatron tensor parallelism inside a node (T, "
             "default 1)"),
    cl::init(1), cl::value_desc("T"), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<bool> SequenceParallelOpt(
    "sequence-parallel",
    cl::desc("with --tensor-parallel: also shard LayerNorm/dropout activations along the "
             "sequence (Megatron sequence parallelism)"),
    cl::sub(CompileCmd), cl::cat(Category));
cl::opt<proto::Recompute, false, ValuesParser<proto::Recompute>> RecomputeOpt(
    "recompute", cl::desc("activation recomputation (default none)"),
    cl::init(proto::RECOMPUTE_NONE),
    cl::values(clEnumValN(proto::RECOMPUTE_NONE, "none", "keep every activation"),
               clEnumValN(proto::RECOMPUTE_SELECTIVE, "selective",
                          "recompute the attention core in the backward"),
               clEnumValN(proto::RECOMPUTE_FULL, "full",
                          "keep block inputs only; the backward reruns the forward")),
    cl::sub(CompileCmd), cl::cat(Category));
cl::opt<proto::Partition, false, ValuesParser<proto::Partition>> PartitionOpt(
    "partition", cl::desc("how layers are split into stages (default uniform)"),
    cl::init(proto::UNIFORM),
    cl::values(clEnumValN(proto::UNIFORM, "uniform", "equal blocks per stage"),
               clEnumValN(proto::BALANCED, "balanced", "minimise the slowest stage")),
    cl::sub(CompileCmd), cl::cat(Category));

cl::opt<proto::Optimizer> OptimizerOpt(
    "optimizer", cl::desc("optimizer whose work the plan schedules"), cl::init(proto::ADAM),
    cl::values(clEnumValN(proto::ADAM, "adam", "first-order (Adam): no extra work"),
               clEnumValN(proto::KFAC, "kfac",
                          "K-FAC: curvature, inversion and preconditioning in the bubbles")),
    cl::sub(CompileCmd), cl::cat(Category));
cl::opt<proto::KfacOptions::Placement> KfacPlacementOpt(
    "kfac-placement", cl::desc("how K-FAC work is placed into bubbles"),
    cl::init(proto::KfacOptions::LIST),
    cl::values(clEnumValN(proto::KfacOptions::LIST, "list",
                          "critical-path list scheduling with split inversions"),
               clEnumValN(proto::KfacOptions::PIPEFISHER, "pipefisher",
                          "PipeFisher's first fit in a fixed order, no splitting")),
    cl::sub(CompileCmd), cl::cat(Category));
cl::opt<double> KfacMaxPieceOpt("kfac-max-piece-ms",
                                cl::desc("split inversions (and curvature, on devices with few "
                                         "curvature tasks) into pieces of at most this many ms "
                                         "(0: a quarter of the shortest stage forward; <0: never)"),
                                cl::init(0), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> KfacCurvatureMbsOpt(
    "kfac-curvature-microbatches",
    cl::desc("estimate the K-FAC factors from this many of the step's micro-batches, evenly "
             "spaced (0: all of them); fewer make the curvature work fit the bubbles"),
    cl::init(0), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> KfacCurvatureBlocksOpt(
    "kfac-curvature-blocks",
    cl::desc("blocks of a stage per curvature task (0: automatic, one block unless a device "
             "would hold more than 1024 curvature tasks)"),
    cl::init(0), cl::sub(CompileCmd), cl::cat(Category));
cl::opt<int> KfacMaxStepsOpt("kfac-max-steps",
                             cl::desc("longest K-FAC refresh cycle to try before stretching "
                                      "the step (default 64, at most 4096)"),
                             cl::init(64), cl::sub(CompileCmd), cl::cat(Category));

// opt
cl::opt<std::string> InputPlan(cl::Positional, cl::desc("<input plan>"), cl::sub(OptCmd),
                               cl::cat(Category));

// both
cl::opt<std::string> OutputOpt("o",
                               cl::desc("output plan: .pb binary, .textproto text, .json "
                                        "(required; written only on success)"),
                               cl::value_desc("PLAN"), cl::sub(CompileCmd), cl::sub(OptCmd),
                               cl::cat(Category));
cl::opt<std::string> PassesOpt("passes",
                               cl::desc("comma-separated pass pipeline (compile: replaces the "
                                        "default; see --list-passes)"),
                               cl::sub(CompileCmd), cl::sub(OptCmd), cl::cat(Category));
cl::opt<bool> ListPasses("list-passes", cl::desc("list the passes and exit"),
                         cl::sub(CompileCmd), cl::sub(OptCmd), cl::cat(Category));
cl::opt<bool> PrintAfterAll("print-after-all", cl::desc("print the plan (text) after every pass"),
                            cl::sub(CompileCmd), cl::sub(OptCmd), cl::cat(Category));
cl::list<std::string> PrintAfter("print-after", cl::desc("print the plan after pass NAME"),
                                 cl::value_desc("NAME"), cl::sub(CompileCmd), cl::sub(OptCmd),
                                 cl::cat(Category));
cl::opt<bool> TimePasses("time-passes", cl::desc("report the time of every pass"),
                         cl::sub(CompileCmd), cl::sub(OptCmd), cl::cat(Category));
cl::opt<bool> NoVerify("no-verify", cl::desc("do not verify after every pass"),
                       cl::sub(CompileCmd), cl::sub(OptCmd), cl::cat(Category));

void printIR(const Program &P, llvm::raw_ostream &OS) {
  std::string Text;
  google::protobuf::TextFormat::PrintToString(toPlan(P), &Text);
  OS << Text;
}

void listPasses() {
  for (const PassInfo &I : allPasses())
    llvm::outs() << llvm::format("  %-22s %s\n", I.Name.str().c_str(), I.Summary.str().c_str());
}

llvm::Error runPipeline(Program &P, const std::string &Pipeline) {
  PassManagerOptions Opts;
  Opts.VerifyEach = !NoVerify;
  Opts.PrintAfterAll = PrintAfterAll;
  Opts.PrintAfter.assign(PrintAfter.begin(), PrintAfter.end());
  Opts.TimePasses = TimePasses;
  Opts.PrintIR = printIR;
  PassManager PM(Opts);
  if (llvm::Error E = PM.addPipeline(Pipeline))
    return E;
  return PM.run(P);
}

llvm::Error finish(Program &P) {
  for (const std::string &W : P.Warnings)
    llvm::errs() << W << "\n";
  return writePlan(toPlan(P), OutputOpt);
}

llvm::Error checkOutput() {
  if (OutputOpt.empty())
    return userError("pfc: error: no output; give -o PLAN (.pb, .textproto or .json)");
  if (llvm::sys::path::extension(OutputOpt).empty())
    return userError("{}: error: -o needs an extension naming the plan format: .pb (binary), "
                     ".textproto (text) or .json",
                     OutputOpt.getValue());
  if (llvm::Expected<PlanFormat> F = planFormatFor(OutputOpt); !F)
    return F.takeError();
  return checkOutputPath(OutputOpt, "-o");
}

/// Upper limits that keep a plan within what pfc can hold (task ids are
/// 32-bit; a million stage-micro-batches make about six million tasks).
llvm::Error checkSizeLimits() {
  for (auto [Name, Value, Max] : {std::tuple{"--stages", StagesOpt.getValue(), 1 << 16},
                                  {"--microbatches", MicrobatchesOpt.getValue(), 1 << 20},
                                  {"--virtual-stages", VirtualOpt.getValue(), 1 << 10},
                                  {"--data-parallel", DataParallelOpt.getValue(), 1 << 20}})
    if (Value > Max)
      return userError("pfc: error: {} must be at most {} (got {})", Name, Max, Value);
  if (StagesOpt < 1 || VirtualOpt < 1 || MicrobatchesOpt < 1)
    return llvm::Error::success(); // reported with the other lower bounds
  constexpr int64_t MaxWork = 1 << 20;
  int64_t Work = static_cast<int64_t>(StagesOpt) * VirtualOpt * MicrobatchesOpt;
  if (Work > MaxWork)
    return userError("pfc: error: --stages {} x --virtual-stages {} x --microbatches {} is {} "
                     "stage-micro-batches, more than the {} pfc plans; use fewer micro-batches",
                     StagesOpt.getValue(), VirtualOpt.getValue(), MicrobatchesOpt.getValue(),
                     Work, MaxWork);
  return llvm::Error::success();
}

llvm::Error compile() {
  if (llvm::Error E = checkOutput())
    return E;
  if (llvm::Error E = checkSizeLimits())
    return E;
  Program P;
  llvm::Expected<proto::Model> Model = loadModel(ModelOpt);
  if (!Model)
    return Model.takeError();
  llvm::Expected<proto::Cluster> Cluster = loadCluster(ClusterOpt, &*Model);
  if (!Cluster)
    return Cluster.takeError();
  P.Model = std::move(*Model);
  P.Cluster = std::move(*Cluster);
  auto &O = P.Options;
  O.set_schedule(ScheduleOpt);
  O.set_stages(StagesOpt);
  O.set_microbatches(MicrobatchesOpt);
  O.set_virtual_stages(VirtualOpt);
  O.set_data_parallel(DataParallelOpt);
  O.set_partition(PartitionOpt);
  O.set_zero(ZeroOpt);
  O.set_tensor_parallel(TensorParallelOpt);
  O.set_recompute(RecomputeOpt);
  O.set_sequence_parallel(SequenceParallelOpt);
  O.set_optimizer(OptimizerOpt);
  O.mutable_kfac()->set_placement(KfacPlacementOpt);
  if (std::isnan(KfacMaxPieceOpt))
    return userError("pfc: error: --kfac-max-piece-ms must be a number of ms (0: automatic, "
                     "< 0: never split; got nan)");
  O.mutable_kfac()->set_max_piece_ms(KfacMaxPieceOpt);
  O.mutable_kfac()->set_max_refresh_steps(KfacMaxStepsOpt);
  if (KfacCurvatureBlocksOpt < 0)
    return userError("pfc: error: --kfac-curvature-blocks must be 0 (automatic) or at least 1 "
                     "(got {})",
                     KfacCurvatureBlocksOpt.getValue());
  O.mutable_kfac()->set_curvature_blocks(KfacCurvatureBlocksOpt);
  O.mutable_kfac()->set_curvature_microbatches(KfacCurvatureMbsOpt);
  for (auto [Name, Value] : {std::pair{"--stages", StagesOpt.getValue()},
                             {"--microbatches", MicrobatchesOpt.getValue()},
                             {"--virtual-stages", VirtualOpt.getValue()},
                             {"--data-parallel", DataParallelOpt.getValue()},
                             {"--tensor-parallel", TensorParallelOpt.getValue()},
                             {"--kfac-max-steps", KfacMaxStepsOpt.getValue()}})
    if (Value < 1)
      return userError("pfc: error: {} must be at least 1 (got {})", Name, Value);
  if (KfacMaxStepsOpt > MaxRefreshSteps)
    return userError("pfc: error: --kfac-max-steps must be at most {} (got {}): inverses "
                     "refreshed that seldom are too stale to help, and placing a cycle costs "
                     "time and memory in proportion to its steps",
                     MaxRefreshSteps, KfacMaxStepsOpt.getValue());
  if (KfacCurvatureMbsOpt < 0 || KfacCurvatureMbsOpt > MicrobatchesOpt)
    return userError("pfc: error: --kfac-curvature-microbatches must be in [0, --microbatches "
                     "{}] (0: all of them; got {})",
                     MicrobatchesOpt.getValue(), KfacCurvatureMbsOpt.getValue());
  if (SequenceParallelOpt && TensorParallelOpt < 2)
    return userError("pfc: error: --sequence-parallel shards along the sequence across a "
                     "tensor-parallel group; give --tensor-parallel 2 or more");
  if (ZeroOpt < 0 || ZeroOpt > 3)
    return userError("pfc: error: --zero must be 0, 1, 2 or 3 (got {})", ZeroOpt.getValue());
  if (ZeroOpt > 0 && DataParallelOpt < 2)
    return userError("pfc: error: --zero {} shards across data-parallel replicas; give "
                     "--data-parallel 2 or more, or --zero 0",
                     ZeroOpt.getValue());
  if (!ProfileOpt.empty()) {
    llvm::Expected<proto::BlockProfile> Prof =
        loadProfile(ProfileOpt, P.Model.micro_batch_size());
    if (!Prof)
      return Prof.takeError();
    *O.mutable_profile() = std::move(*Prof);
  }
  std::string Pipeline = PassesOpt.empty() ? defaultPipeline(O) : PassesOpt.getValue();
  if (llvm::Error E = runPipeline(P, Pipeline))
    return E;
  return finish(P);
}

llvm::Error opt() {
  if (InputPlan.empty())
    return userError("pfc: error: no input plan; usage: pfc opt PLAN --passes=a,b -o OUT");
  if (PassesOpt.empty())
    return userError("pfc: error: give --passes=a,b,c (see --list-passes)");
  if (llvm::Error E = checkOutput())
    return E;
  // Passes other than the verifier cost work from the plan's model and
  // cluster: those must then be as valid as pfc compile's inputs.
  llvm::SmallVector<llvm::StringRef, 8> Names;
  llvm::StringRef(PassesOpt).split(Names, ',', -1, /*KeepEmpty=*/false);
  const bool Costs = llvm::any_of(Names, [](llvm::StringRef N) { return N.trim() != "verify"; });
  llvm::Expected<Program> P =
      loadPlan(InputPlan, Costs ? PlanChecks::Costs : PlanChecks::Schedule);
  if (!P)
    return P.takeError();
  if (llvm::Error E = runPipeline(*P, PassesOpt))
    return E;
  return finish(*P);
}

} // namespace

int pfcMain(int Argc, char **Argv) {
  cl::HideUnrelatedOptions({&Category, &AnalyzeCategory});
  cl::SetVersionPrinter([](llvm::raw_ostream &OS) {
    OS << "pfc (plan format version " << PlanVersion << ")\n";
  });
  if (Argc > 1 && Argv[1][0] != '-' && std::strcmp(Argv[1], "compile") != 0 &&
      std::strcmp(Argv[1], "opt") != 0 && std::strcmp(Argv[1], "analyze") != 0)
    return reportError("pfc", userError("pfc: error: unknown command '{}'; use 'pfc compile', "
                                        "'pfc opt' or 'pfc analyze' (see pfc --help)",
                                        Argv[1]));
  // Messages name the tool, not the path it was started from.
  std::vector<char *> Args(Argv, Argv + Argc);
  char ToolName[] = "pfc";
  Args[0] = ToolName;
  std::string Overview = fmt::format(
      "pfc: schedule compiler for pipeline-parallel training\n\n"
      "  pfc compile [--model M] [--cluster C] [--profile P.csv] [--schedule S]\n"
      "              [--stages S] [--microbatches N] -o PLAN\n"
      "  pfc opt PLAN --passes=a,b,c -o OUT\n"
      "  pfc analyze PLAN --first-order-steps N --kfac-steps M\n\n"
      "Models: a .textproto or .json file, or a preset: {}.\n"
      "Clusters: a .textproto or .json file, or a preset: {}.\n"
      "Plans: .pb binary, .textproto text, .json; pfc-dump shows them.\n"
      "Exit codes: 0 success; 2 user error (bad input, flag or file: the message names the\n"
      "file and line:column or the field, and nothing is written); 4 the plan breaks an\n"
      "invariant; 1 internal error.\n",
      llvm::join(modelPresets(), ", "), llvm::join(clusterPresets(), ", "));
  std::string Errors;
  llvm::raw_string_ostream ErrOS(Errors);
  if (!cl::ParseCommandLineOptions(Argc, Args.data(), Overview, &ErrOS)) {
    llvm::errs() << formatCommandLineErrors("pfc", ErrOS.str());
    return ExitUserError;
  }
  if (ListPasses) {
    listPasses();
    return ExitOk;
  }
  llvm::Error E = llvm::Error::success();
  if (CompileCmd)
    E = compile();
  else if (OptCmd)
    E = opt();
  else if (AnalyzeCmd)
    E = runAnalyze();
  else
    E = userError("pfc: error: no command; use 'pfc compile' or 'pfc opt' (see pfc --help)");
  if (E)
    return reportError("pfc", std::move(E));
  return ExitOk;
}

} // namespace pfc
