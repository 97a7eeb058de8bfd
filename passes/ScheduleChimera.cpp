//===- ScheduleChimera.cpp - bidirectional pipelines (Chimera) -------------===//
//
// Chimera (Li & Hoefler, SC'21): two S-stage pipelines run in opposite
// directions on the same S devices, "down" (position p on device p) and "up"
// (position p on device S-1-p), each taking half of the micro-batches. A basic
// unit is S micro-batches; in unit k the down pipeline runs k*S .. k*S+S/2-1
// and the up pipeline k*S+S/2 .. k*S+S-1. Device d's order is the one of the
// authors' implementation (Shigangli/Chimera, main_with_runtime_direct.py).
// With X the pipeline whose stage on d lies in its first half (down for
// d < S/2, up otherwise), Y the other one, a = S/2-d for d < S/2 and
// d-S/2+1 otherwise, b = S/2-a:
//   unit 0:   a x F_X,  b x (F_Y F_X),  a x (F_Y B_Y),  b x (B_X B_Y)
//   unit k>0: a x (B_X F_X), then as unit 0
//   end:      a x B_X
// so the previous unit's last backwards of X interleave with the next unit's
// first forwards: the paper's direct concatenation (forward doubling and
// backward halving are not implemented).
//
// With equal forward and backward times this gives the paper's bubble ratio
// (S-2)/(2N+S-2) for every N = K*S, and device d holds S/2+1+min(d, S-1-d)
// micro-batches of activations at the peak (S/2+1 to S, as the paper says).
// Requirements: S even (the two directions must not collide), N a positive
// multiple of S (so odd N is rejected: the two directions get N/2 each),
// --virtual-stages 1.
//
//===----------------------------------------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

#include <array>

namespace pfc {
namespace {

/// Checks what the schedule needs beyond a partitioned program.
llvm::Error checkChimeraInputs(const Program &P) {
  const int32_t S = P.numDevices(), N = P.Options.microbatches();
  if (S % 2 != 0)
    return userError("pfc: error: the chimera schedule needs an even number of stages (its "
                     "two pipelines would collide otherwise), got --stages {}; use --stages {}",
                     S, S == 1 ? "2" : fmt::format("{} or {}", S - 1, S + 1));
  if (N % S != 0) {
    int32_t Below = N / S * S, Above = Below + S;
    if (Below == 0)
      return userError("pfc: error: the chimera schedule needs --microbatches to be a multiple "
                       "of --stages {} (a basic unit is {} micro-batches, {} per direction), "
                       "got {}; use --microbatches {}",
                       S, S, S / 2, N, Above);
    return userError("pfc: error: the chimera schedule needs --microbatches to be a multiple of "
                     "--stages {} (a basic unit is {} micro-batches, {} per direction), got {}; "
                     "use --microbatches {} or {}",
                     S, S, S / 2, N, Below, Above);
  }
  auto Lines = stagesByPipeline(P);
  bool Ok = Lines.size() == 2;
  for (int32_t Pipe = 0; Ok && Pipe < 2; ++Pipe) {
    Ok = static_cast<int32_t>(Lines[Pipe].size()) == S;
    for (int32_t Pos = 0; Ok && Pos < S; ++Pos)
      Ok = Lines[Pipe][Pos] >= 0 &&
           P.Stages[Lines[Pipe][Pos]].Device == (Pipe == 0 ? Pos : S - 1 - Pos);
  }
  if (!Ok)
    return userError("pfc: error: schedule-chimera needs two pipelines of {} stages, position "
                     "p on device p and on device {}-p; run 'partition' with --schedule "
                     "chimera first",
                     S, S - 1);
  return llvm::Error::success();
}

/// Builds one device's order, handing out each pipeline's micro-batches in
/// order (the i-th of a pipeline belongs to unit i / (S/2)).
class DeviceOrderBuilder {
public:
  DeviceOrderBuilder(int32_t S, std::array<int32_t, 2> Stage, std::vector<ComputeOp> &Out)
      : Half(S / 2), Stage(Stage), Out(Out) {}
  void forward(int32_t Pipe) { add(Pipe, false); }
  void backward(int32_t Pipe) { add(Pipe, true); }

private:
  void add(int32_t Pipe, bool Backward) {
    int32_t I = Next[Pipe][Backward]++;
    int32_t Mb = I / Half * 2 * Half + Pipe * Half + I % Half;
    Out.push_back({Backward, Stage[Pipe], Mb});
  }

  int32_t Half;
  std::array<int32_t, 2> Stage; // this device's stage of each pipeline
  int32_t Next[2][2] = {{0, 0}, {0, 0}};
  std::vector<ComputeOp> &Out;
};

class ScheduleChimeraPass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-chimera"; }

  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = checkScheduleInputs(P, "chimera", /*AllowVirtual=*/false))
      return E;
    if (llvm::Error E = checkChimeraInputs(P))
      return E;
    const int32_t S = P.numDevices(), Half = S / 2;
    const int32_t Units = P.Options.microbatches() / S;
    const auto Lines = stagesByPipeline(P);

    DeviceOrders Orders(S);
    for (int32_t D = 0; D < S; ++D) {
      const bool FirstHalf = D < Half;
      const int32_t X = FirstHalf ? 0 : 1, Y = 1 - X;
      const int32_t A = FirstHalf ? Half - D : D - Half + 1, B = Half - A;
      Orders[D].reserve(4 * static_cast<size_t>(Units) * Half);
      DeviceOrderBuilder O(S, {Lines[0][D], Lines[1][S - 1 - D]}, Orders[D]);
      for (int32_t K = 0; K < Units; ++K) {
        for (int32_t I = 0; I < A; ++I) {
          if (K > 0)
            O.backward(X); // the previous unit's tail
          O.forward(X);
        }
        for (int32_t I = 0; I < B; ++I) {
          O.forward(Y);
          O.forward(X);
        }
        for (int32_t I = 0; I < A; ++I) {
          O.forward(Y);
          O.backward(Y);
        }
        for (int32_t I = 0; I < B; ++I) {
          O.backward(X);
          O.backward(Y);
        }
      }
      for (int32_t I = 0; I < A; ++I)
        O.backward(X);
    }
    materializeSchedule(P, Orders);
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleChimeraPass() {
  return std::make_unique<ScheduleChimeraPass>();
}

} // namespace pfc
