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
    // Position of every compute task in its device's compute stream.
    std::vector<int32_t> Pos(P.numTasks(), 0);
    for (int32_t D = 0; D < P.numDevices(); ++D) {
      const auto &S = P.stream(D, proto::COMPUTE);
      for (int32_t I = 0; I < static_cast<int32_t>(S.size()); ++I)
        Pos[S[I]] = I;
    }
    std::vector<std::pair<TaskId, TaskId>> Kept;
    Kept.reserve(P.Edges.size());
    std::vector<std::pair<TaskId, TaskId>> Cross;
    for (auto E : P.Edges) {
      if (P.Tasks[E.first].Device == P.Tasks[E.second].Device)
        Kept.push_back(E);
      else
        Cross.push_back(E);
    }
    if (Cross.empty())
      return false;
    P.Edges = std::move(Kept);
    // Sort keys: producer position for sends, consumer position for receives.
    std::vector<int64_t> Key(P.numTasks() + 2 * Cross.size(), 0);
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
      TaskId SendId = P.addTask(Send), RecvId = P.addTask(Recv);
      P.Tasks[SendId].Peer = RecvId;
      P.Tasks[RecvId].Peer = SendId;
      Key[SendId] = Pos[From];
      Key[RecvId] = Pos[To];
      P.addEdge(From, SendId);
      P.addEdge(SendId, RecvId);
      P.addEdge(RecvId, To);
    }
    for (int32_t D = 0; D < P.numDevices(); ++D)
      for (StreamKind S : {proto::SEND, proto::RECV})
        std::stable_sort(P.stream(D, S).begin(), P.stream(D, S).end(),
                         [&](TaskId A, TaskId B) { return Key[A] < Key[B]; });
    return true;
  }
};

} // namespace

std::unique_ptr<Pass> createInsertCommPass() { return std::make_unique<InsertCommPass>(); }

} // namespace pfc
