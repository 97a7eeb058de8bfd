//===- PassManager.cpp - runs a pipeline of passes -------------------------===//
#include "PassManager.h"

#include "ir/Diagnostics.h"
#include "ir/Verifier.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <chrono>

namespace pfc {

llvm::Error PassManager::addPipeline(llvm::StringRef Pipeline) {
  llvm::SmallVector<llvm::StringRef, 8> Names;
  Pipeline.split(Names, ',', -1, /*KeepEmpty=*/false);
  if (Names.empty())
    return userError("pfc: error: --passes is empty; give a comma-separated list (see "
                     "--list-passes)");
  for (llvm::StringRef Name : Names) {
    Name = Name.trim();
    const PassInfo *Info = findPass(Name);
    if (!Info) {
      std::string Known;
      for (const PassInfo &I : allPasses())
        Known += (Known.empty() ? "" : ", ") + I.Name.str();
      return userError("pfc: error: unknown pass '{}'; known passes: {}", Name.str(), Known);
    }
    Passes.push_back(Info->Create());
  }
  return llvm::Error::success();
}

llvm::Error PassManager::run(Program &P) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::pair<std::string, double>> Times;
  auto InvalidAfter = [](llvm::StringRef Name, llvm::Error E) {
    return llvm::joinErrors(userError("pfc: error: plan invalid after pass '{}':", Name.str()),
                            std::move(E));
  };
  for (size_t I = 0; I < Passes.size(); ++I) {
    Pass &Current = *Passes[I];
    auto T0 = Clock::now();
    llvm::Expected<bool> Changed = Current.run(P);
    if (!Changed) {
      // A verify pass right after another pass stood in for its check.
      if (Opts.VerifyEach && I > 0 && Current.name() == "verify" &&
          Passes[I - 1]->name() != "verify")
        return InvalidAfter(Passes[I - 1]->name(), Changed.takeError());
      return Changed.takeError();
    }
    Times.emplace_back(Current.name().str(),
                       std::chrono::duration<double>(Clock::now() - T0).count());
    // The verifier after every pass, except after a verify pass and before
    // one (which checks the same program).
    const bool VerifyNext = I + 1 < Passes.size() && Passes[I + 1]->name() == "verify";
    if (Opts.VerifyEach && Current.name() != "verify" && !VerifyNext) {
      if (llvm::Error E = verifyProgram(P))
        return InvalidAfter(Current.name(), std::move(E));
    }
    bool Print = Opts.PrintAfterAll || llvm::is_contained(Opts.PrintAfter, Current.name().str());
    if (Print && Opts.PrintIR) {
      *Opts.Out << "# ----- IR after " << Current.name() << " -----\n";
      Opts.PrintIR(P, *Opts.Out);
    }
  }
  if (Opts.TimePasses) {
    double Total = 0;
    for (auto &[Name, Secs] : Times)
      Total += Secs;
    *Opts.Out << "===== pass execution timing =====\n";
    for (auto &[Name, Secs] : Times)
      *Opts.Out << fmt::format("{:>10.4f} s  {:5.1f}%  {}\n", Secs,
                               Total > 0 ? 100 * Secs / Total : 0.0, Name);
    *Opts.Out << fmt::format("{:>10.4f} s  100.0%  total\n", Total);
  }
  return llvm::Error::success();
}

std::string defaultPipeline(const proto::CompileOptions &Options) {
  std::string Schedule;
  switch (Options.schedule()) {
  case proto::GPIPE: Schedule = "schedule-gpipe"; break;
  case proto::INTERLEAVED: Schedule = "schedule-interleaved"; break;
  case proto::CHIMERA: Schedule = "schedule-chimera"; break;
  case proto::LAYERED: Schedule = "schedule-layered"; break;
  default: Schedule = "schedule-1f1b"; break;
  }
  // bubble-fill simulates the plan itself (with and without K-FAC).
  std::string Timing = Options.optimizer() == proto::KFAC ? ",kfac-insert,bubble-fill"
                                                          : ",simulate";
  std::string Sync = Options.zero() > 0 ? ",zero-sync" : ",dp-sync";
  return "partition," + Schedule + ",insert-comm" + Sync + Timing + ",memory,verify";
}

} // namespace pfc
