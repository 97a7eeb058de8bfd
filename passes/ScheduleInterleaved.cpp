//===- ScheduleInterleaved.cpp - Megatron-LM interleaved 1F1B --------------===//
//
// Megatron-LM's interleaved schedule (Narayanan et al., SC'21;
// forward_backward_pipelining_with_interleaving): each of the S devices holds
// V model chunks, stage i of the S*V-stage pipeline on device i mod S. Every
// device walks the same table of (micro-batch, chunk) pairs: micro-batches in
// groups, and within a group chunk 0 runs the whole group, then chunk 1, ...
// Backward walks the same table with chunk V-1-c. Device s runs
//   W_s = min(2(S-s-1) + (V-1)*G0, V*N)
// warm-up forwards (G0 = size of the first group), then alternates forward
// W_s+k and backward k, then drains the remaining backwards.
//
// Megatron requires N to be a multiple of S (groups of S). pfc accepts any N:
// the first group absorbs the remainder, G0 = S + N mod S (a single group of N
// when N < S). Putting the remainder in the first group and counting it in the
// warm-up keeps the schedule deadlock-free (a short last group, as
// Megatron-core's schedule table does, deadlocks e.g. S=4 V=3 N=5) and, with
// equal stage costs and free communication, keeps Megatron's step time
// (V*N+S-1)(F+B) for every N >= S; for N < S it is (V*S+N-1)(F+B).
// V = 1 takes 1F1B's warm-up S-s-1, so it is exactly schedule-1f1b.
//
//===----------------------------------------------------------------------===//
#include "Pass.h"
#include "ScheduleBuilder.h"

#include "ir/Diagnostics.h"

#include <algorithm>

namespace pfc {
namespace {

struct TableEntry {
  int32_t Microbatch;
  int32_t Chunk;
};

/// Size of the first micro-batch group: S plus the remainder of N / S.
int32_t firstGroupSize(int32_t N, int32_t S) { return N <= S ? N : S + N % S; }

/// The (micro-batch, chunk) order shared by all devices: groups of S
/// micro-batches (the first one larger), each group run chunk by chunk.
std::vector<TableEntry> scheduleTable(int32_t N, int32_t S, int32_t V) {
  std::vector<TableEntry> Table;
  Table.reserve(static_cast<size_t>(N) * V);
  for (int32_t Lo = 0, Size = firstGroupSize(N, S); Lo < N; Lo += Size, Size = S)
    for (int32_t C = 0; C < V; ++C)
      for (int32_t Mb = Lo; Mb < Lo + Size; ++Mb)
        Table.push_back({Mb, C});
  return Table;
}

class ScheduleInterleavedPass : public Pass {
public:
  llvm::StringRef name() const override { return "schedule-interleaved"; }

  llvm::Expected<bool> run(Program &P) override {
    if (llvm::Error E = checkScheduleInputs(P, "interleaved", /*AllowVirtual=*/true))
      return E;
    const int32_t N = P.Options.microbatches();
    const int32_t S = P.numDevices();
    const int32_t V = std::max(1, P.Options.virtual_stages());
    if (llvm::Error E = checkLoopingPlacement(P, "interleaved", S, V))
      return E;
    const std::vector<TableEntry> Table = scheduleTable(N, S, V);
    const int32_t Total = N * V;
    const auto Line = stagesByPipeline(P)[0];

    DeviceOrders Orders(S);
    for (int32_t Dev = 0; Dev < S; ++Dev) {
      auto Op = [&](int32_t K, bool Backward) {
        const TableEntry &E = Table[K];
        int32_t Chunk = Backward ? V - 1 - E.Chunk : E.Chunk;
        return ComputeOp{Backward, Line[Chunk * S + Dev], E.Microbatch};
      };
      // (V-1)*G0 forwards take micro-batch 0 to the last chunk; 2(S-s-1) more
      // keep device s busy while it travels to the last device and its
      // gradient comes back (1F1B's S-s-1 covers only the way out).
      const int32_t Warmup =
          V == 1 ? std::min(S - Dev - 1, N)
                 : std::min(2 * (S - Dev - 1) + (V - 1) * firstGroupSize(N, S), Total);
      auto &Order = Orders[Dev];
      Order.reserve(2 * static_cast<size_t>(Total));
      for (int32_t K = 0; K < Warmup; ++K)
        Order.push_back(Op(K, false));
      for (int32_t K = 0; K + Warmup < Total; ++K) {
        Order.push_back(Op(K + Warmup, false));
        Order.push_back(Op(K, true));
      }
      for (int32_t K = Total - Warmup; K < Total; ++K)
        Order.push_back(Op(K, true));
    }
    materializeSchedule(P, Orders);
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleInterleavedPass() {
  return std::make_unique<ScheduleInterleavedPass>();
}

} // namespace pfc
