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
    // The fields read below in edge order, copied out in sequential sweeps:
    // at a million tasks a random-order read of a 64-byte Task is a cache
    // miss, of this 20-byte record much less often. Pos is the position in
    // the device's compute stream (0 for tasks on no compute stream).
    struct Ends {
      int32_t Device, Stage, Microbatch, Pos;
      bool Backward;
    };
    std::vector<Ends> Info(NumOld);
    for (TaskId T = 0; T < NumOld; ++T) {
      const Task &Tk = P.Tasks[T];
      Info[T] = {Tk.Device, Tk.Stage, Tk.Microbatch, 0, Tk.Kind == proto::BACKWARD};
    }
    for (int32_t D = 0; D < P.numDevices(); ++D) {
      const auto &S = P.stream(D, proto::COMPUTE);
      for (int32_t I = 0; I < static_cast<int32_t>(S.size()); ++I)
        Info[S[I]].Pos = I;
    }
    // Same-device edges stay, compacted in place; cross-device ones are set
    // aside to be routed.
    std::vector<std::pair<TaskId, TaskId>> Cross;
    size_t Kept = 0;
    for (auto E : P.Edges) {
      if (Info[E.first].Device == Info[E.second].Device)
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
        ++Sends[Info[From].Device];
        ++Recvs[Info[To].Device];
      }
      for (int32_t D = 0; D < P.numDevices(); ++D) {
        auto &S = P.stream(D, proto::SEND), &R = P.stream(D, proto::RECV);
        S.reserve(S.size() + Sends[D]);
        R.reserve(R.size() + Recvs[D]);
      }
    }
    // Sort keys of the new tasks: producer position for sends, consumer
    // position for receives.
    std::vector<int32_t> Key;
    Key.reserve(NumComm);
    for (auto [From, To] : Cross) {
      const Ends &Src = Info[From];
      const Ends &Dst = Info[To];
      bool Gradient = Src.Backward;
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
      Key.push_back(Src.Pos);
      Key.push_back(Dst.Pos);
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
