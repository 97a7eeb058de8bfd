//===- CudaKfacTasks.h - the plan's K-FAC tasks on the GPU -----------------===//
//
// The CPU's K-FAC task logic (KfacTasks.h: refresh cycle, lagged data,
// pieces, warm-up, KL clip across stages) instantiated for the GPU model and
// optimizer: every call takes the lane of the device running the task as
// its extra argument and issues its work there.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_CUDA_CUDAKFACTASKS_H
#define PFC_BACKENDS_INTERP_CUDA_CUDAKFACTASKS_H

#include "CudaKfacOptimizer.h"
#include "CudaModel.h"

#include "backends/interp/KfacTasks.h"

namespace pfc::interp::cuda {

template <typename T> using KfacTasks = interp::BasicKfacTasks<T, Model<T>, KfacOptimizer<T>>;

} // namespace pfc::interp::cuda

namespace pfc::interp {
extern template class BasicKfacTasks<float, cuda::Model<float>, cuda::KfacOptimizer<float>>;
extern template class BasicKfacTasks<double, cuda::Model<double>, cuda::KfacOptimizer<double>>;
} // namespace pfc::interp

#endif
