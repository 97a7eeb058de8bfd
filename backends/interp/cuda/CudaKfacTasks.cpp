//===- CudaKfacTasks.cpp - the plan's K-FAC tasks on the GPU ---------------===//
//
// Threads as in KfacTasks.cpp: a task touches only its stage's optimizer and
// layers, on its device's lane; sumFactors runs once every member arrived,
// on the last arrival's lane (the members' lanes have synchronised).
//
//===----------------------------------------------------------------------===//
#include "CudaKfacTasks.h"

namespace pfc::interp {

template class BasicKfacTasks<float, cuda::Model<float>, cuda::KfacOptimizer<float>>;
template class BasicKfacTasks<double, cuda::Model<double>, cuda::KfacOptimizer<double>>;

} // namespace pfc::interp
