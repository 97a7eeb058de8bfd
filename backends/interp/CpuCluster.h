//===- CpuCluster.h - the CPU interpreter described as a pfc cluster -------===//
//
// pfc-run --cluster-out: measures what the cost model needs to know about
// this machine running the interpreter, and writes it as a cluster text
// proto that `pfc compile --cluster` reads. A plan device is a thread; the
// "link" between two devices is the executor's in-process channel, which
// moves a tensor by pointer and wakes the receiving thread: its latency is
// the measured wake-up time of a mutex + condition-variable ping-pong (the
// walker's hand-off), its bandwidth the measured memory copy rate (what an
// all-reduce, a sum of gradients in memory, is bound by; sends copy
// nothing, so their byte cost is overstated by bytes / bandwidth). The
// device peaks are the single-threaded GEMM rates of the interpreter's
// OpenBLAS at the model's block shape, with compute_efficiency 1.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CPUCLUSTER_H
#define PFC_BACKENDS_INTERP_CPUCLUSTER_H

#include "Model.h"

#include <string>

namespace pfc::interp {

struct CpuRates {
  double GflopsFp32 = 0, GflopsFp64 = 0; ///< GEMM, one thread
  double CopyGBps = 0;                   ///< memory copy, one thread
  double HandOffUs = 0;                  ///< one thread waking another
  double MemoryGib = 0;                  ///< physical memory
  int32_t Cores = 1;
};

/// Measures the rates with GEMMs of (micro-batch x seq) x hidden by hidden x
/// ffn, as a block's MLP does; about half a second.
CpuRates measureCpu(const ModelConfig &C);

/// A cluster of one node holding max(\p Devices, cores) "devices", each
/// with an equal share of the memory.
std::string cpuClusterTextproto(const CpuRates &R, int32_t Devices);

} // namespace pfc::interp

#endif
