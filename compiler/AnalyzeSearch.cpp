//===- AnalyzeSearch.cpp - pfc analyze --model: shortest time to train -----===//
//
// Searches, per schedule (1F1B, interleaved, layered), the configuration
// that trains on a token budget (or to a target loss) soonest, using every
// device it can:
//
//   global batch  B_crit(L) = B* / L^(1/alpha_B), B* = 2e8 tokens,
//                 alpha_B = 0.21 (Kaplan et al. 2020, "Scaling Laws for
//                 Neural Language Models", eq. 5.3 and Table 2), with
//   loss          L(N) = (N_c / N)^alpha_N, N_c = 8.8e13, alpha_N = 0.076
//                 (their eq. 1.1), N the non-embedding parameters
//                 layers x (4h^2 + 2h ffn), unless --loss gives L;
//   steps         ceil(tokens / B), B = D x N x micro-batch x seq; or, with
//                 --target-loss L, ceil(S_min (1 + B_crit(L) / B)) (their
//                 eq. 5.4) where L = (N_c'/N)^alpha_N' + (S_c/S_min)^alpha_S
//                 (eq. 1.6, Table 3: N_c' = 6.5e13, alpha_N' = 0.077,
//                 S_c = 2.1e3, alpha_S = 0.76), and global batches
//                 B_crit x 2^k, B_crit/64 <= B <= 8 B_crit, are searched:
//                 smaller ones need fewer tokens but more, more bubbled steps;
//   time          steps x the step time pfc's own passes simulate.
//
// Candidates: tensor-parallel groups of T = 1, 2, 4, ... GPUs (dividing a
// node, up to --max-tensor-parallel; with sequence parallelism, which costs
// no extra communication); P pipeline devices (divides the
// blocks, or a power of two, for 1F1B; P x V divides the blocks for the
// looping schedules, 2 <= V <= 16), D = floor(devices / (P T)) and its
// power-of-two floor, micro-batch sizes from the smallest whose P x V x N
// stays within --max-work upwards while the time improves,
// N = round(B_crit / (D x mb x seq)). For each recomputation mode (none,
// selective, full) ZeRO stages are tried from 0 up and the first that fits
// (peak memory <= capacity, the memory pass's peak, which needs no
// simulation) is simulated: a higher stage only adds communication; the
// fastest of those is the candidate's time.
//
//===----------------------------------------------------------------------===//
#include "AnalyzeSearch.h"

#include "InputLoader.h"
#include "ir/Diagnostics.h"
#include "passes/PassManager.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace pfc {
namespace {

constexpr double BStar = 2e8, AlphaB = 0.21, Nc = 8.8e13, AlphaN = 0.076;
// Kaplan et al. Table 3: the fit of L(N, S_min).
constexpr double NcS = 6.5e13, AlphaNS = 0.077, Sc = 2.1e3, AlphaS = 0.76;
constexpr double MinBatchScale = 1.0 / 64, MaxBatchScale = 8;
constexpr double GiB = 1024.0 * 1024.0 * 1024.0;

struct Candidate {
  proto::Schedule Schedule = proto::ONE_F_ONE_B;
  int32_t P = 1, V = 1, D = 1, N = 1, Mb = 1, Zero = 0, T = 1;
  proto::Recompute Recompute = proto::RECOMPUTE_NONE;
  double StepMs = 0, Bubble = 0;
  int64_t PeakBytes = 0, CapacityBytes = 0;
  int64_t Steps = 0;
  double BatchTokens = 0, Days = 0;
  double BatchScale = 1; ///< global batch / B_crit as searched
  bool Fits = false;
};

struct Searcher {
  const SearchRequest &R;
  proto::Model Model;
  proto::Cluster Cluster;
  int32_t Devices = 0;
  double Sequences = 0;     ///< global batch in sequences
  double CritSequences = 0; ///< B_crit in sequences
  double BCritTokens = 0;
  double Smin = 0; ///< > 0: steps to the target loss at an infinite batch
  int Compiled = 0, OverMemory = 0, OverWork = 0;

  /// Compiles \p C; runs the simulator only if it fits. Fills peak, fit and
  /// (if it fits) step time, bubble, steps and days.
  llvm::Error evaluate(Candidate &C) {
    Program Prog;
    Prog.Model = Model;
    Prog.Model.set_micro_batch_size(C.Mb);
    Prog.Cluster = Cluster;
    proto::CompileOptions &O = Prog.Options;
    O.set_schedule(C.Schedule);
    O.set_stages(C.P);
    O.set_virtual_stages(C.V);
    O.set_microbatches(C.N);
    O.set_data_parallel(C.D);
    O.set_zero(C.Zero);
    O.set_tensor_parallel(C.T);
    O.set_sequence_parallel(C.T > 1);
    O.set_recompute(C.Recompute);
    O.set_partition(proto::UNIFORM);
    // The default pipeline up to the memory pass, simulated only if it fits.
    std::string Pipeline = defaultPipeline(O);
    for (llvm::StringRef Drop : {",simulate", ",verify"})
      if (size_t At = Pipeline.find(Drop.str()); At != std::string::npos)
        Pipeline.erase(At, Drop.size());
    PassManagerOptions PMO;
    PMO.VerifyEach = false;
    PassManager PM(PMO);
    if (llvm::Error E = PM.addPipeline(Pipeline))
      return E;
    if (llvm::Error E = PM.run(Prog))
      return E;
    ++Compiled;
    C.PeakBytes = 0;
    for (int32_t D = 0; D < Prog.numDevices(); ++D)
      C.PeakBytes = std::max(C.PeakBytes, Prog.Stats[D].PeakMemory);
    C.CapacityBytes = Prog.numDevices() ? Prog.Devices[0].MemoryCapacity : 0;
    C.Fits = R.IgnoreMemory || C.PeakBytes <= C.CapacityBytes;
    if (!C.Fits) {
      ++OverMemory;
      return llvm::Error::success();
    }
    PassManager Sim(PMO);
    if (llvm::Error E = Sim.addPipeline("simulate"))
      return E;
    if (llvm::Error E = Sim.run(Prog))
      return E;
    C.StepMs = Prog.Time.StepTimeMs;
    C.Bubble = Prog.Time.BubbleFraction;
    C.BatchTokens = static_cast<double>(C.D) * C.N * C.Mb * Model.seq_length();
    C.Steps = static_cast<int64_t>(
        std::ceil(Smin > 0 ? Smin * (1 + BCritTokens / C.BatchTokens) : R.Tokens / C.BatchTokens));
    C.Days = C.Steps * C.StepMs / 1e3 / 86400;
    return llvm::Error::success();
  }

  /// The fastest fitting candidate of one (schedule, P, V, D, T), trying
  /// micro-batch sizes, recomputation modes and ZeRO stages; \p Smallest
  /// keeps the least peak seen.
  llvm::Expected<std::optional<Candidate>> best(proto::Schedule S, int32_t P, int32_t V,
                                                int32_t D, int32_t T, Candidate &Smallest) {
    std::optional<Candidate> Best;
    for (int32_t Mb = 1; Mb <= 64; Mb *= 2) {
      int32_t N = std::max<int32_t>(1, std::lround(Sequences / (double(D) * Mb)));
      if (static_cast<int64_t>(P) * V * N > R.MaxWork) {
        ++OverWork;
        continue;
      }
      // Per recomputation mode, the first ZeRO stage that fits (a higher
      // stage only adds communication); the fastest of those.
      std::optional<Candidate> Fit;
      for (proto::Recompute Rc : {proto::RECOMPUTE_NONE, proto::RECOMPUTE_SELECTIVE,
                                  proto::RECOMPUTE_FULL}) {
        for (int32_t Z = 0; Z <= (D >= 2 ? 3 : 0); ++Z) {
          Candidate C{S, P, V, D, N, Mb, Z, T, Rc};
          if (llvm::Error E = evaluate(C))
            return E;
          if (C.Fits) {
            if (!Fit || C.Days < Fit->Days)
              Fit = C;
            break;
          }
          if (Smallest.PeakBytes == 0 || C.PeakBytes < Smallest.PeakBytes)
            Smallest = C;
        }
        // Without memory limits, recomputation only costs time.
        if (R.IgnoreMemory)
          break;
      }
      // Larger micro-batches hold at least as much: none will fit either.
      if (!Fit)
        break;
      if (Best && Fit->Days >= Best->Days)
        break;
      Best = Fit;
    }
    return Best;
  }

  /// The best candidate of schedule \p S: at B_crit for a token budget; for
  /// a target loss, walking the global batch from B_crit down (or up) by
  /// factors of two while the time improves (time against batch size is
  /// unimodal: fewer steps on one side, longer ones on the other), and down
  /// while nothing fits in memory yet.
  llvm::Expected<std::optional<Candidate>> search(proto::Schedule S, Candidate &Smallest) {
    llvm::Expected<std::optional<Candidate>> Best = searchAtScale(S, 1, Smallest);
    if (!Best || Smin <= 0)
      return Best;
    for (double Factor : {0.5, 2.0}) {
      bool Improved = false;
      for (double Scale = Factor; Scale >= MinBatchScale && Scale <= MaxBatchScale;
           Scale *= Factor) {
        llvm::Expected<std::optional<Candidate>> C = searchAtScale(S, Scale, Smallest);
        if (!C)
          return C.takeError();
        // Smaller batches hold less: keep halving until something fits.
        if (!*C && !*Best && Factor < 1)
          continue;
        if (!*C || (*Best && (*C)->Days >= (*Best)->Days))
          break;
        *Best = *C;
        Improved = true;
      }
      if (Improved)
        break;
    }
    return Best;
  }

  /// The best candidate at global batch \p Scale x B_crit over the
  /// tensor-parallel degrees.
  llvm::Expected<std::optional<Candidate>> searchAtScale(proto::Schedule S, double Scale,
                                                         Candidate &Smallest) {
    std::optional<Candidate> Best;
    const int32_t Gpn = std::max(1, Cluster.gpus_per_node());
    Sequences = CritSequences * Scale;
    for (int32_t T = 1; T <= Gpn && T <= R.MaxTensorParallel; T *= 2) {
      if (Gpn % T != 0)
        break;
      llvm::Expected<std::optional<Candidate>> C = searchPipelines(S, T, Smallest);
      if (!C)
        return C.takeError();
      if (*C && (!Best || (*C)->Days < Best->Days)) {
        Best = *C;
        Best->BatchScale = Scale;
      }
    }
    return Best;
  }

  /// The best pipeline shape for tensor-parallel groups of \p T GPUs.
  llvm::Expected<std::optional<Candidate>> searchPipelines(proto::Schedule S, int32_t T,
                                                           Candidate &Smallest) {
    const int32_t Blocks = Model.num_layers();
    const bool Looping = S != proto::ONE_F_ONE_B;
    const int32_t Groups = Devices / T;
    std::optional<Candidate> Best;
    for (int32_t P = Looping ? 2 : 1; P <= std::min(Blocks, Groups); ++P) {
      bool Pow2 = (P & (P - 1)) == 0;
      if (!Looping && Blocks % P != 0 && !Pow2)
        continue;
      std::vector<int32_t> Ds = {Groups / P};
      int32_t D2 = 1;
      while (D2 * 2 <= Groups / P)
        D2 *= 2;
      if (D2 != Ds[0])
        Ds.push_back(D2);
      for (int32_t V = Looping ? 2 : 1; V <= (Looping ? 16 : 1); ++V) {
        if (Looping && Blocks % (P * V) != 0)
          continue;
        for (int32_t D : Ds) {
          llvm::Expected<std::optional<Candidate>> C = best(S, P, V, D, T, Smallest);
          if (!C)
            return C.takeError();
          if (*C && (!Best || (*C)->Days < Best->Days))
            Best = *C;
        }
      }
    }
    return Best;
  }
};

std::string rowText(std::string_view Name, const std::optional<Candidate> &C,
                    const Candidate &Smallest) {
  if (!C)
    return fmt::format("{:<12} no configuration fits in {:.1f} GiB (least peak {:.1f} GiB: "
                       "P={} V={} D={} T={} mb={} N={} ZeRO-{} recompute {})\n",
                       Name, Smallest.CapacityBytes / GiB, Smallest.PeakBytes / GiB,
                       Smallest.P, Smallest.V, Smallest.D, Smallest.T, Smallest.Mb, Smallest.N,
                       Smallest.Zero, recomputeName(Smallest.Recompute));
  return fmt::format("{:<12}{:>4}{:>4}{:>6}{:>3}{:>8}{:>4}{:>6}{:>5}{:>10}{:>11}{:>11.1f}"
                     "{:>8.3f}{:>10.1f}{:>10}{:>9.2f}\n",
                     Name, C->P, C->V, C->D, C->T, int64_t(C->P) * C->D * C->T, C->Mb, C->N,
                     C->Zero, recomputeName(C->Recompute), int64_t(C->D) * C->N * C->Mb,
                     C->StepMs, C->Bubble, C->PeakBytes / GiB, C->Steps, C->Days);
}

llvm::json::Value rowJson(const std::optional<Candidate> &C, const Candidate &Smallest) {
  if (!C)
    return llvm::json::Object{{"fits", false},
                              {"least_peak_gib", Smallest.PeakBytes / GiB},
                              {"capacity_gib", Smallest.CapacityBytes / GiB}};
  return llvm::json::Object{
      {"fits", true},           {"stages", C->P},
      {"virtual_stages", C->V}, {"data_parallel", C->D},
      {"tensor_parallel", C->T}, {"recompute", std::string(recomputeName(C->Recompute))},
      {"devices", int64_t(C->P) * C->D * C->T}, {"micro_batch_size", C->Mb},
      {"microbatches", C->N},   {"zero", C->Zero},
      {"batch_tokens", C->BatchTokens},
      {"step_time_ms", C->StepMs}, {"bubble_fraction", C->Bubble},
      {"peak_memory_gib", C->PeakBytes / GiB}, {"capacity_gib", C->CapacityBytes / GiB},
      {"steps", C->Steps},      {"tokens", C->Steps * C->BatchTokens},
      {"batch_over_critical", C->BatchScale}, {"days", C->Days}};
}

} // namespace

llvm::Error runAnalyzeSearch(const SearchRequest &R) {
  if (R.Tokens > 0 && R.TargetLoss > 0)
    return userError("pfc: error: give --tokens or --target-loss, not both");
  if (!(R.Tokens > 0) && !(R.TargetLoss > 0))
    return userError("pfc: error: give --tokens T, the training tokens, or --target-loss L, "
                     "the loss to reach in nats (positive), with --model");
  if (!std::isfinite(R.Tokens) || !std::isfinite(R.TargetLoss))
    return userError("pfc: error: --tokens and --target-loss must be finite (got {} and {})",
                     R.Tokens, R.TargetLoss);
  if (R.Loss != 0 && !(R.Loss > 0 && std::isfinite(R.Loss)))
    return userError("pfc: error: --loss must be a positive number of nats (got {})", R.Loss);
  if (R.MaxWork < 1)
    return userError("pfc: error: --max-work must be at least 1 (got {})", R.MaxWork);
  if (R.MaxTensorParallel < 1)
    return userError("pfc: error: --max-tensor-parallel must be at least 1 (got {})",
                     R.MaxTensorParallel);
  llvm::Expected<proto::Model> Model = loadModel(R.Model);
  if (!Model)
    return Model.takeError();
  llvm::Expected<proto::Cluster> Cluster = loadCluster(R.Cluster, &*Model);
  if (!Cluster)
    return Cluster.takeError();
  Searcher S{R, *Model, *Cluster};
  S.Devices = Cluster->num_nodes() * Cluster->gpus_per_node();
  const double H = Model->hidden_size();
  const double F = Model->ffn_size() > 0 ? Model->ffn_size() : 4 * H;
  const double Params = Model->num_layers() * (4 * H * H + 2 * H * F);
  const double Loss = R.Loss > 0        ? R.Loss
                      : R.TargetLoss > 0 ? R.TargetLoss
                                         : std::pow(Nc / Params, AlphaN);
  const double BCrit = BStar / std::pow(Loss, 1 / AlphaB);
  S.CritSequences = S.Sequences = BCrit / Model->seq_length();
  S.BCritTokens = BCrit;
  const double Floor = std::pow(NcS / Params, AlphaNS);
  if (R.TargetLoss > 0) {
    if (R.TargetLoss <= Floor)
      return userError("pfc: error: --target-loss {:.3f} is out of reach for {} ({:.3g} "
                       "non-embedding parameters): Kaplan et al.'s L(N, S) never goes below "
                       "(6.5e13/N)^0.077 = {:.3f} nats; give a larger loss",
                       R.TargetLoss, Model->name(), Params, Floor);
    S.Smin = Sc / std::pow(R.TargetLoss - Floor, 1 / AlphaS);
  }

  const proto::Schedule Schedules[] = {proto::ONE_F_ONE_B, proto::INTERLEAVED, proto::LAYERED};
  std::optional<Candidate> Best[3];
  Candidate Smallest[3];
  for (int I = 0; I < 3; ++I) {
    llvm::Expected<std::optional<Candidate>> C = S.search(Schedules[I], Smallest[I]);
    if (!C)
      return C.takeError();
    Best[I] = *C;
  }
  int Winner = -1;
  for (int I = 0; I < 3; ++I)
    if (Best[I] && (Winner < 0 || Best[I]->Days < Best[Winner]->Days))
      Winner = I;

  if (R.Json) {
    llvm::json::Object Rows;
    for (int I = 0; I < 3; ++I)
      Rows[std::string(scheduleName(Schedules[I]))] = rowJson(Best[I], Smallest[I]);
    llvm::json::Object Root{
        {"model", Model->name()},
        {"cluster", Cluster->name()},
        {"cluster_devices", S.Devices},
        {"tokens", R.Tokens > 0 ? llvm::json::Value(R.Tokens) : llvm::json::Value(nullptr)},
        {"target_loss",
         R.TargetLoss > 0 ? llvm::json::Value(R.TargetLoss) : llvm::json::Value(nullptr)},
        {"s_min_steps", S.Smin > 0 ? llvm::json::Value(S.Smin) : llvm::json::Value(nullptr)},
        {"memory_ignored", R.IgnoreMemory},
        {"max_tensor_parallel", R.MaxTensorParallel},
        {"critical_batch",
         llvm::json::Object{{"b_star_tokens", BStar},
                            {"alpha_b", AlphaB},
                            {"n_c", Nc},
                            {"alpha_n", AlphaN},
                            {"non_embedding_params", Params},
                            {"loss_nats", Loss},
                            {"loss_given", R.Loss > 0},
                            {"tokens", BCrit},
                            {"sequences", S.Sequences}}},
        {"schedules", std::move(Rows)},
        {"winner", Winner < 0 ? llvm::json::Value(nullptr)
                              : llvm::json::Value(std::string(scheduleName(Schedules[Winner])))},
        {"compiled", S.Compiled},
        {"over_memory", S.OverMemory},
        {"over_max_work", S.OverWork}};
    llvm::outs() << llvm::formatv("{0:2}", llvm::json::Value(std::move(Root))) << "\n";
    return llvm::Error::success();
  }
  llvm::raw_ostream &OS = llvm::outs();
  if (R.TargetLoss > 0)
    OS << fmt::format("shortest time to train {} on {} ({} devices) to a loss of {:.3f} nats\n",
                      Model->name(), Cluster->name(), S.Devices, R.TargetLoss);
  else
    OS << fmt::format("shortest time to train {} on {} ({} devices), {:.3g} tokens\n",
                      Model->name(), Cluster->name(), S.Devices, R.Tokens);
  OS << fmt::format("critical batch (Kaplan et al. 2020): {:.3g} non-embedding parameters, "
                    "L = {:.3f} nats{}, B_crit = 2e8 / L^(1/0.21) = {:.3g} tokens = {:.0f} "
                    "sequences of {}\n",
                    Params, Loss,
                    R.Loss > 0         ? " (--loss)"
                    : R.TargetLoss > 0 ? " (--target-loss)"
                                       : " = (8.8e13/N)^0.076",
                    BCrit, S.CritSequences, Model->seq_length());
  if (S.Smin > 0)
    OS << fmt::format("steps to the target (Kaplan et al. eq. 1.6 and 5.4, Table 3): "
                      "L = {:.3f} + (2.1e3/S_min)^0.76 gives S_min = {:.0f}; steps = S_min (1 + "
                      "B_crit/B), B = B_crit x 2^k from B_crit/64 to 8 B_crit\n",
                      Floor, S.Smin);
  if (R.IgnoreMemory)
    OS << "memory ignored (--ignore-memory): peaks may exceed the device's capacity\n";
  OS << "schedule       P   V     D  T devices  mb     N ZeRO recompute  batch seq    step "
        "ms  bubble  peak GiB     steps     days\n";
  for (int I = 0; I < 3; ++I)
    OS << rowText(scheduleName(Schedules[I]), Best[I], Smallest[I]);
  if (Winner < 0) {
    OS << "winner: none; no configuration fits in device memory\n";
  } else {
    OS << fmt::format("winner: {}, {:.2f} days", scheduleName(Schedules[Winner]),
                      Best[Winner]->Days);
    for (int I = 0; I < 3; ++I)
      if (I != Winner && Best[I])
        OS << fmt::format(", {:.3f}x faster than {}", Best[I]->Days / Best[Winner]->Days,
                          scheduleName(Schedules[I]));
    OS << "\n";
  }
  OS << fmt::format("searched: {} configurations compiled, {} over memory, {} skipped over "
                    "--max-work {}\n",
                    S.Compiled, S.OverMemory, S.OverWork, R.MaxWork);
  return llvm::Error::success();
}

} // namespace pfc
