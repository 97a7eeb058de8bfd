//===- KfacCosts.h - what K-FAC work costs ---------------------------------===//
//
// Durations and sizes of the K-FAC work of one Transformer block: curvature
// factors A (from the Linear layers' inputs) and B (from their output
// gradients) per micro-batch, their inversion and the preconditioning of the
// block's gradient. Analytic by default; a measured BlockProfile (time_kron,
// time_inv, time_prec, mem_kron, mem_save_err) overrides it, split between
// the A and B sides in the analytic proportions.
//
// Analytic conventions: factors in fp32 with the bias as a homogeneous
// coordinate (A is (d_in+1)^2, B is d_out^2); curvature is a GEMM of
// 2 * tokens * d^2 FLOPs; a damped Cholesky inversion of an n x n factor
// (potrf + potri) costs n^3 FLOPs at a third of the device's GEMM
// efficiency (small, latency-bound kernels); preconditioning B^-1 V A^-1 is
// two GEMMs, 2 d_out d_in (d_out + d_in) FLOPs.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_PASSES_KFACCOSTS_H
#define PFC_PASSES_KFACCOSTS_H

#include "ir/Program.h"

#include <vector>

namespace pfc {

struct LinearShape {
  int64_t In = 0;
  int64_t Out = 0;
};

/// The Linear layers of one block that K-FAC preconditions: 6 for BERT
/// (query, key, value, attention output, intermediate, output), 4 with a
/// fused QKV projection (GPT-style), per Model.linear_layers_per_block.
std::vector<LinearShape> blockLinears(const proto::Model &M);

struct KfacBlockCost {
  double CurvatureAMs = 0; ///< per micro-batch, all Linear layers of the block
  double CurvatureBMs = 0;
  double InvertAMs = 0;    ///< all A factors of the block
  double InvertBMs = 0;
  double PreconditionMs = 0; ///< per step
  int64_t FactorBytes = 0;   ///< A and B factors of the block (inverses: as much again)
  int64_t SavedInputBytes = 0; ///< per micro-batch: the Linear layers' inputs
  int64_t SavedGradBytes = 0;  ///< per micro-batch: their output gradients
};

KfacBlockCost kfacBlockCost(const Program &P);

} // namespace pfc

#endif
