//===- KfacTasks.cpp - the plan's K-FAC tasks run by the executor ----------===//
//
// Threads: each task touches only its own stage's optimizer and layers (one
// device runs a stage, one task at a time), except sumFactors, which the
// executor calls once every member of the all-reduce has arrived (their
// curvature is complete and nothing else of theirs touches the sums), and
// applyDeferred, which it calls after the walk has joined every device.
//
//===----------------------------------------------------------------------===//
#include "KfacTasks.h"

namespace pfc::interp {

template class BasicKfacTasks<float, Model<float>, KfacOptimizer<float>>;
template class BasicKfacTasks<double, Model<double>, KfacOptimizer<double>>;

} // namespace pfc::interp
