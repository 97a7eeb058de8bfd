//===- ChromeTrace.cpp - the plan in the Trace Event Format ----------------===//
//
// Opens in Perfetto (ui.perfetto.dev) and chrome://tracing: a process per
// device, a thread per stream in use, a complete event ("ph":"X") per task
// occurrence of the k-step cycle, flow arrows from each send to its receive,
// and global instant events at step boundaries when the cycle spans several
// steps. One event per line, so that large traces stay greppable and tests
// can match lines. llvm::json::OStream does the escaping; times are printed
// with fixed three decimals (ns resolution in µs) so that the output is
// deterministic and free of binary-fraction noise.
//
//===----------------------------------------------------------------------===//
#include "DumpUtil.h"
#include "Dumps.h"

#include "llvm/Support/JSON.h"

#include <fmt/format.h>

namespace pfc {
namespace {

llvm::StringRef str(std::string_view S) { return {S.data(), S.size()}; }

/// A number with fixed decimals (llvm::json would print 17 digits).
void fixed(llvm::json::OStream &J, llvm::StringRef Key, double V, int Decimals) {
  J.attributeBegin(Key);
  J.rawValue(fmt::format("{:.{}f}", V, Decimals));
  J.attributeEnd();
}

void micros(llvm::json::OStream &J, llvm::StringRef Key, double Ms) { fixed(J, Key, Ms * 1000, 3); }

/// Writes the traceEvents array one compact event per line.
class Events {
public:
  explicit Events(llvm::raw_ostream &OS) : OS(OS) {}
  void add(llvm::function_ref<void(llvm::json::OStream &)> Body) {
    OS << (First ? "\n" : ",\n");
    First = false;
    llvm::json::OStream J(OS);
    J.object([&] { Body(J); });
  }

private:
  llvm::raw_ostream &OS;
  bool First = true;
};

void metadata(Events &E, llvm::StringRef Name, int32_t Pid, int Tid, llvm::StringRef Key,
              llvm::json::Value V) {
  E.add([&](llvm::json::OStream &J) {
    J.attribute("name", Name);
    J.attribute("ph", "M");
    J.attribute("pid", Pid);
    J.attribute("tid", Tid);
    J.attributeObject("args", [&] { J.attribute(Key, V); });
  });
}

void printMetadata(const Program &P, Events &E) {
  for (int32_t D = 0; D < P.numDevices(); ++D) {
    std::string Name = fmt::format("device {} (node {})", D, P.Devices[D].Node);
    metadata(E, "process_name", D, 0, "name", Name);
    metadata(E, "process_sort_index", D, 0, "sort_index", D);
    for (int S = 0; S < NumStreams; ++S) {
      if (S != proto::COMPUTE && !streamInUse(P, D, static_cast<StreamKind>(S)))
        continue;
      metadata(E, "thread_name", D, S, "name", str(streamName(static_cast<StreamKind>(S))));
      metadata(E, "thread_sort_index", D, S, "sort_index", S);
    }
  }
}

void printTask(const Program &P, const Occurrence &O, Events &E) {
  const Task &T = P.Tasks[O.Id];
  E.add([&](llvm::json::OStream &J) {
    J.attribute("name", taskLabel(P, O.Id));
    J.attribute("cat", str(kindStyle(T.Kind).Key));
    J.attribute("ph", "X");
    micros(J, "ts", O.Start);
    micros(J, "dur", O.End - O.Start);
    J.attribute("pid", T.Device);
    J.attribute("tid", static_cast<int>(T.Stream));
    J.attributeObject("args", [&] {
      J.attribute("task", O.Id);
      J.attribute("kind", str(taskKindName(T.Kind)));
      J.attribute("step", O.Step);
      J.attribute("stage", T.Stage);
      J.attribute("microbatch", T.Microbatch);
      J.attribute("bytes", T.Bytes);
      if (T.MemoryDelta)
        J.attribute("memory_delta_bytes", T.MemoryDelta);
      if (T.Layer >= 0)
        J.attribute("layer", T.Layer);
      if (T.LayerCount > 1)
        J.attribute("layer_count", T.LayerCount);
      if (T.Piece > 0)
        J.attribute("piece", T.Piece);
      if (T.Peer != NoTask)
        J.attribute("peer", T.Peer);
    });
  });
}

/// An arrow from a send to its receive, in the same step of the cycle.
void printFlow(const Program &P, const Occurrence &Send, int64_t Id, Events &E) {
  const Task &T = P.Tasks[Send.Id];
  const Task &R = P.Tasks[T.Peer];
  double Shift = isCycleTask(R.Kind) ? 0 : Send.Step * P.Time.StepTimeMs;
  bool Act = T.Kind == proto::SEND_ACTIVATION;
  auto End = [&](const char *Ph, const Task &At, double Ms) {
    E.add([&](llvm::json::OStream &J) {
      J.attribute("name", Act ? "activation" : "gradient");
      J.attribute("cat", "transfer");
      J.attribute("ph", Ph);
      J.attribute("id", Id);
      micros(J, "ts", Ms);
      J.attribute("pid", At.Device);
      J.attribute("tid", static_cast<int>(At.Stream));
      if (*Ph == 'f')
        J.attribute("bp", "e");
    });
  };
  End("s", T, Send.Start);
  End("f", R, P.Time.Start[T.Peer] + Shift);
}

} // namespace

void printChromeTrace(const Program &P, llvm::raw_ostream &OS) {
  OS << "{\"traceEvents\": [";
  Events E(OS);
  printMetadata(P, E);
  if (P.Time.Simulated) {
    int64_t Flow = 0;
    for (const Occurrence &O : occurrences(P)) {
      printTask(P, O, E);
      const Task &T = P.Tasks[O.Id];
      bool Send = T.Kind == proto::SEND_ACTIVATION || T.Kind == proto::SEND_GRADIENT;
      if (Send && T.Peer != NoTask)
        printFlow(P, O, Flow++, E);
    }
    for (int32_t S = 1; S < cycleSteps(P); ++S)
      E.add([&](llvm::json::OStream &J) {
        J.attribute("name", fmt::format("step {}", S));
        J.attribute("ph", "i");
        J.attribute("s", "g");
        micros(J, "ts", S * P.Time.StepTimeMs);
        J.attribute("pid", 0);
        J.attribute("tid", 0);
      });
  }
  OS << "\n],\n\"displayTimeUnit\": \"ms\",\n\"otherData\": ";
  llvm::json::OStream J(OS);
  J.object([&] {
    J.attribute("title", planTitle(P));
    J.attribute("simulated", P.Time.Simulated);
    if (!P.Time.Simulated) {
      J.attribute("message", notSimulatedMessage());
      return;
    }
    fixed(J, "step_time_ms", P.Time.StepTimeMs, 3);
    fixed(J, "bubble_fraction", P.Time.BubbleFraction, 4);
    J.attribute("cycle_steps", cycleSteps(P));
  });
  OS << "}\n";
}

} // namespace pfc
