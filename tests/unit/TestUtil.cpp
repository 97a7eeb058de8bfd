//===- TestUtil.cpp - building programs for unit tests ---------------------===//
#include "TestUtil.h"

#include "passes/PassManager.h"

#include <doctest/doctest.h>

namespace pfc::test {

Program uniformProgram(proto::Schedule Schedule, int32_t S, int32_t N, int32_t V, double F,
                       double B) {
  Program P;
  P.Model.set_name("uniform");
  P.Model.set_num_layers(S * V);
  P.Cluster.set_name("free-comm");
  P.Options.set_schedule(Schedule);
  P.Options.set_stages(S);
  P.Options.set_microbatches(N);
  P.Options.set_virtual_stages(V);
  P.Options.set_data_parallel(1);
  P.setNumDevices(S);
  for (auto &D : P.Devices)
    D.MemoryCapacity = int64_t(1) << 40;
  const int32_t Pipelines = Schedule == proto::CHIMERA ? 2 : 1;
  for (int32_t Pipe = 0; Pipe < Pipelines; ++Pipe)
    for (int32_t I = 0; I < S * V; ++I) {
      Stage St;
      St.Pipeline = Pipe;
      St.Position = I;
      St.Device = Pipe == 0 ? I % S : S - 1 - I % S;
      St.LayerBegin = I;
      St.LayerEnd = I + 1;
      St.ForwardMs = F;
      St.BackwardMs = B;
      St.ActivationBytes = 1;
      P.Stages.push_back(St);
    }
  return P;
}

std::string errorText(llvm::Error E) { return E ? llvm::toString(std::move(E)) : ""; }

std::string pipelineError(Program &P, const std::string &Pipeline) {
  PassManager PM;
  llvm::Error E = PM.addPipeline(Pipeline);
  if (!E)
    E = PM.run(P);
  return errorText(std::move(E));
}

void runPasses(Program &P, const std::string &Pipeline) {
  PassManager PM;
  llvm::Error E = PM.addPipeline(Pipeline);
  if (!E)
    E = PM.run(P);
  if (E) {
    std::string Msg = llvm::toString(std::move(E));
    FAIL(Msg); // later checks would read results that do not exist
  }
}

std::string computeOrder(const Program &P, int32_t D) {
  bool ManyStages = false;
  int32_t First = -1;
  for (TaskId T : P.stream(D, proto::COMPUTE)) {
    int32_t S = P.Tasks[T].Stage;
    if (P.Tasks[T].Kind != proto::FORWARD && P.Tasks[T].Kind != proto::BACKWARD)
      continue;
    if (First < 0)
      First = S;
    ManyStages |= S != First;
  }
  std::string Out;
  for (TaskId T : P.stream(D, proto::COMPUTE)) {
    const Task &Tk = P.Tasks[T];
    if (Tk.Kind != proto::FORWARD && Tk.Kind != proto::BACKWARD)
      continue;
    if (!Out.empty())
      Out += ' ';
    Out += Tk.Kind == proto::FORWARD ? 'F' : 'B';
    Out += std::to_string(Tk.Microbatch);
    if (ManyStages) {
      Out += '.';
      Out += std::to_string(P.Stages[Tk.Stage].Position);
    }
  }
  return Out;
}

} // namespace pfc::test
