//===- Memory.cpp - per-device memory peak ---------------------------------===//
//
// Static memory: parameters, gradients and optimizer state of the stages a
// device holds (CostModel::staticBytesPerParam per parameter). Dynamic
// memory: activations a forward saves until its backward frees them. Both
// run on the device's compute stream, so the stream order alone fixes the
// activation peak; no timing is needed. Also counts the peak number of
// (stage, micro-batch) activation sets alive at once; under --recompute, one
// block's recomputed activations on top. With K-FAC, adds the
// factors, their inverses and the tensors kept for deferred curvature
// (from the bubble-fill report).
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "Pass.h"
#include "Zero.h"

#include <algorithm>

namespace pfc {
namespace {

class MemoryPass : public Pass {
public:
  llvm::StringRef name() const override { return "memory"; }

  llvm::Expected<bool> run(Program &P) override {
    CostModel Costs(P);
    P.Stats.resize(P.numDevices());
    for (int32_t D = 0; D < P.numDevices(); ++D) {
      DeviceStats &S = P.Stats[D];
      S.StaticMemory = deviceStaticBytes(P, Costs, D); // sharded under --zero (Zero.h)
      int64_t Live = 0, Peak = 0;
      int32_t Inflight = 0, PeakInflight = 0;
      for (TaskId T : P.stream(D, proto::COMPUTE)) {
        const Task &Tk = P.Tasks[T];
        Live += Tk.MemoryDelta;
        Peak = std::max(Peak, Live);
        if (Tk.Kind == proto::FORWARD)
          PeakInflight = std::max(PeakInflight, ++Inflight);
        else if (Tk.Kind == proto::BACKWARD)
          --Inflight;
      }
      // K-FAC: factors and inverses are static; tensors kept for deferred
      // curvature add to the activation peak (counted as if coinciding).
      if (P.Kfac.present())
        for (const proto::KfacDeviceReport &K : P.Kfac.devices())
          if (K.device() == D) {
            S.StaticMemory += K.factor_bytes();
            Peak += K.saved_bytes();
          }
      // A recomputing backward briefly holds one block's dropped activations.
      S.PeakMemory = S.StaticMemory + Peak + zeroWorkingBytes(P, D) +
                     Costs.recomputeWorkingBytes();
      S.PeakInflight = PeakInflight;
    }
    return false;
  }
};

} // namespace

std::unique_ptr<Pass> createMemoryPass() { return std::make_unique<MemoryPass>(); }

} // namespace pfc
