//===- Analyze.cpp - pfc analyze: time to train ----------------------------===//
//
// `pfc analyze PLAN --first-order-steps N1 --kfac-steps N2` estimates the
// time to reach a target loss as steps-to-target x step time, for a
// first-order optimizer (the plan's step without K-FAC work) and for K-FAC at
// the plan's refresh cycle (its step with preconditioning; curvature and
// inversion ride in the bubbles). Steps-to-target are inputs: measured by
// pfc-run, or taken from the literature. This is how PipeFisher arrives at
// "50-75% of the training time".
//
// `pfc analyze --model M --cluster C --tokens T` (no PLAN) instead searches
// the configuration that trains on T tokens soonest (AnalyzeSearch.cpp).
//
//===----------------------------------------------------------------------===//
#include "AnalyzeSearch.h"
#include "Driver.h"

#include "backends/PlanIO.h"
#include "ir/Diagnostics.h"
#include "ir/PlanConversion.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

namespace pfc {

cl::SubCommand AnalyzeCmd("analyze", "estimate the time to train with a plan");
cl::OptionCategory AnalyzeCategory("pfc analyze options");

namespace {

cl::OptionCategory &Category = AnalyzeCategory;
cl::opt<std::string> PlanPath(cl::Positional, cl::desc("<plan>"), cl::sub(AnalyzeCmd),
                              cl::cat(Category));
cl::opt<int64_t> FirstOrderSteps("first-order-steps",
                                 cl::desc("steps a first-order optimizer needs to the target"),
                                 cl::value_desc("N"), cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<int64_t> KfacSteps("kfac-steps",
                           cl::desc("steps K-FAC needs to the target at the plan's refresh "
                                    "cycle"),
                           cl::value_desc("N"), cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<std::string> ModelOpt("model",
                              cl::desc("search mode (no PLAN): model, a file or a preset"),
                              cl::value_desc("M"), cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<std::string> ClusterOpt("cluster",
                                cl::desc("search mode: cluster, a file or a preset (default "
                                         "v100-dgx1)"),
                                cl::value_desc("C"), cl::init("v100-dgx1"), cl::sub(AnalyzeCmd),
                                cl::cat(Category));
cl::opt<double> TokensOpt("tokens", cl::desc("search mode: training tokens"),
                          cl::value_desc("T"), cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<double> LossOpt("loss",
                        cl::desc("search mode: loss (nats) for the critical batch size "
                                 "(default: Kaplan's L(N) from the model size)"),
                        cl::value_desc("L"), cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<double> TargetLossOpt("target-loss",
                              cl::desc("search mode, instead of --tokens: train until this "
                                       "loss (nats); global batch sizes B_crit x 2^k "
                                       "(B_crit/64 to 8 B_crit) are searched"),
                              cl::value_desc("L"), cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<int64_t> MaxWorkOpt("max-work",
                            cl::desc("search mode: most stages x virtual stages x "
                                     "micro-batches simulated per candidate (default 16384)"),
                            cl::init(1 << 14), cl::value_desc("W"), cl::sub(AnalyzeCmd),
                            cl::cat(Category));
cl::opt<bool> IgnoreMemoryOpt("ignore-memory",
                              cl::desc("search mode: let peaks exceed device memory (the "
                                       "time with memory savings pfc does not model)"),
                              cl::sub(AnalyzeCmd), cl::cat(Category));
cl::opt<int> MaxTensorParallelOpt("max-tensor-parallel",
                                  cl::desc("search mode: largest tensor-parallel degree tried, "
                                           "powers of two within a node (default 8; 1: "
                                           "pipeline and data parallelism only)"),
                                  cl::init(8), cl::value_desc("T"), cl::sub(AnalyzeCmd),
                                  cl::cat(Category));
cl::opt<bool> Json("json", cl::desc("print one JSON object"), cl::sub(AnalyzeCmd),
                   cl::cat(Category));

} // namespace

llvm::Error runAnalyze() {
  if (PlanPath.empty() && !ModelOpt.empty())
    return runAnalyzeSearch({ModelOpt, ClusterOpt, TokensOpt, TargetLossOpt, LossOpt,
                              MaxWorkOpt, Json, IgnoreMemoryOpt, MaxTensorParallelOpt});
  if (!ModelOpt.empty())
    return userError("pfc: error: give either PLAN or --model, not both");
  if (PlanPath.empty())
    return userError("pfc: error: no plan and no --model; usage: pfc analyze PLAN "
                     "--first-order-steps N --kfac-steps M, or pfc analyze --model M "
                     "--cluster C --tokens T");
  if (FirstOrderSteps <= 0 || KfacSteps <= 0)
    return userError("pfc: error: give --first-order-steps and --kfac-steps, both positive "
                     "(steps to the target loss)");
  llvm::Expected<proto::Plan> Plan = readPlan(PlanPath);
  if (!Plan)
    return Plan.takeError();
  llvm::Expected<Program> P = fromPlan(*Plan, PlanPath);
  if (!P)
    return P.takeError();
  if (!P->Time.Simulated)
    return userError("{}: error: the plan is not simulated; run 'pfc opt {} "
                     "--passes=simulate -o PLAN' first",
                     PlanPath.getValue(), PlanPath.getValue());
  if (!P->Kfac.present())
    return userError("{}: error: the plan has no K-FAC work; compile it with --optimizer kfac",
                     PlanPath.getValue());
  const proto::KfacReport &K = P->Kfac;
  const double FirstOrderMs = FirstOrderSteps * K.step_time_ms_without();
  const double KfacMs = KfacSteps * K.step_time_ms_with();
  const double Ratio = FirstOrderMs > 0 ? KfacMs / FirstOrderMs : 0;
  if (Json) {
    llvm::json::Object Root{
        {"refresh_steps", K.refresh_steps()},
        {"first_order", llvm::json::Object{{"steps", FirstOrderSteps.getValue()},
                                           {"step_time_ms", K.step_time_ms_without()},
                                           {"time_s", FirstOrderMs / 1e3}}},
        {"kfac", llvm::json::Object{{"steps", KfacSteps.getValue()},
                                    {"step_time_ms", K.step_time_ms_with()},
                                    {"time_s", KfacMs / 1e3}}},
        {"kfac_time_ratio", Ratio},
    };
    llvm::outs() << llvm::formatv("{0:2}", llvm::json::Value(std::move(Root))) << "\n";
    return llvm::Error::success();
  }
  llvm::outs() << fmt::format("time to target with {} ({}, {} micro-batches)\n",
                              P->Model.name(), P->Cluster.name(), P->Options.microbatches());
  llvm::outs() << fmt::format("  first-order: {:>10} steps x {:10.3f} ms = {:12.1f} s\n",
                              FirstOrderSteps.getValue(), K.step_time_ms_without(),
                              FirstOrderMs / 1e3);
  llvm::outs() << fmt::format("  K-FAC (k={}): {:>9} steps x {:10.3f} ms = {:12.1f} s\n",
                              K.refresh_steps(), KfacSteps.getValue(), K.step_time_ms_with(),
                              KfacMs / 1e3);
  llvm::outs() << fmt::format("  K-FAC needs {:.1f}% of the first-order training time\n",
                              100 * Ratio);
  return llvm::Error::success();
}

} // namespace pfc
