//===- InsertComm.cpp - send/receive for cross-device dependencies ---------===//
//
// Every dependency edge whose ends lie on different devices becomes
//   producer -> send (producer's SEND stream) -> recv (consumer's RECV stream)
//   -> consumer.
// The send carries the transfer time (latency + bytes / bandwidth of the link
// between the two devices); the receive is its zero-length completion on the
// consumer's side. Send streams are ordered as their producers run, receive
// streams as their consumers run, so a runtime posting them in stream order
// never waits on a transfer that comes later.
//
//===----------------------------------------------------------------------===//
#include "CostModel.h"
#include "Pass.h"

#include <algorithm>

namespace pfc {
namespace {

class InsertCommPass : public Pass {
public:
  llvm::StringRef name() const override { return "insert-comm"; }

  llvm::Expected<bool> run(Program &P) override {
    CostModel Costs(P);
    const int32_t NumOld = P.numTasks();
    // Same-device edges stay, compacted in place; cross-device ones are set
    // aside to be routed.
    std::vector<std::pair<TaskId, TaskId>> Cross;
    size_t Kept = 0;
    for (auto E : P.Edges) {
      if (P.Tasks[E.first].Device == P.Tasks[E.second].Device)
        P.Edges[Kept++] = E;
      else
        Cross.push_back(E);
    }
    if (Cross.empty())
      return false;
    P.clearResults();
    P.Edges.resize(Kept);
    // Exact sizes up front: at a million tasks, growing these vectors by
    // doubling costs more than the pass itself (copies and page faults).
    const int32_t NumComm = 2 * static_cast<int32_t>(Cross.size());
    P.Tasks.reserve(static_cast<size_t>(NumOld) + NumComm);
    P.Edges.reserve(Kept + 3 * Cross.size());
    {
      std::vector<int32_t> Sends(P.numDevices(), 0), Recvs(P.numDevices(), 0);
      for (auto [From, To] : Cross) {
        ++Sends[P.Tasks[From].Device];
        ++Recvs[P.Tasks[To].Device];
      }
      for (int32_t D = 0; D < P.numDevices(); ++D) {
        auto &S = P.stream(D, proto::SEND), &R = P.stream(D, proto::RECV);
        S.reserve(S.size() + Sends[D]);
        R.reserve(R.size() + Recvs[D]);
      }
    }
    // Sort keys of the new tasks: producer position for sends, consumer
    // position for receives (positions in the device's compute stream).
    std::vector<int32_t> Key(NumComm, 0);
    {
      std::vector<int32_t> Pos(NumOld, 0);
      for (int32_t D = 0; D < P.numDevices(); ++D) {
        const auto &S = P.stream(D, proto::COMPUTE);
        for (int32_t I = 0; I < static_cast<int32_t>(S.size()); ++I)
          Pos[S[I]] = I;
      }
      for (size_t I = 0; I < Cross.size(); ++I) {
        Key[2 * I] = Pos[Cross[I].first];
        Key[2 * I + 1] = Pos[Cross[I].second];
      }
    }
    for (auto [From, To] : Cross) {
      const Task &Src = P.Tasks[From];
      const Task &Dst = P.Tasks[To];
      bool Gradient = Src.Kind == proto::BACKWARD;
      const Stage &St = P.Stages[Src.Stage];
      int64_t Bytes = St.OutputBytes;
      if (Gradient) // the gradient of this stage's input: the previous stage's output
        Bytes = P.Stages[Dst.Stage].OutputBytes;
      Task Send;
      Send.Kind = Gradient ? proto::SEND_GRADIENT : proto::SEND_ACTIVATION;
      Send.Stream = proto::SEND;
      Send.Device = Src.Device;
      Send.Stage = Src.Stage;
      Send.Microbatch = Src.Microbatch;
      Send.Bytes = Bytes;
      Send.DurationMs = Costs.p2pMs(P, Src.Device, Dst.Device, Bytes);
      Task Recv = Send;
      Recv.Kind = Gradient ? proto::RECV_GRADIENT : proto::RECV_ACTIVATION;
      Recv.Stream = proto::RECV;
      Recv.Device = Dst.Device;
      Recv.Stage = Dst.Stage;
      Recv.DurationMs = 0;
      const TaskId SendId = static_cast<TaskId>(P.Tasks.size()), RecvId = SendId + 1;
      Send.Peer = RecvId;
      Recv.Peer = SendId;
      P.addTask(Send);
      P.addTask(Recv);
      P.addEdge(From, SendId);
      P.addEdge(SendId, RecvId);
      P.addEdge(RecvId, To);
    }
    // Stable counting sort of each send and receive stream by key; tasks
    // that were already there sort first, as with key 0 in a stable sort.
    std::vector<int32_t> Count, Sorted;
    for (int32_t D = 0; D < P.numDevices(); ++D)
      for (StreamKind Kind : {proto::SEND, proto::RECV}) {
        auto &S = P.stream(D, Kind);
        auto KeyOf = [&](TaskId T) { return T < NumOld ? 0 : Key[T - NumOld]; };
        int32_t MaxKey = 0;
        for (TaskId T : S)
          MaxKey = std::max(MaxKey, KeyOf(T));
        Count.assign(static_cast<size_t>(MaxKey) + 2, 0);
        for (TaskId T : S)
          ++Count[KeyOf(T) + 1];
        for (int32_t K = 0; K <= MaxKey; ++K)
          Count[K + 1] += Count[K];
        Sorted.resize(S.size());
        for (TaskId T : S)
          Sorted[Count[KeyOf(T)]++] = T;
        std::copy(Sorted.begin(), Sorted.end(), S.begin());
      }
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createInsertCommPass() { return std::make_unique<InsertCommPass>(); }

} // namespace pfc
