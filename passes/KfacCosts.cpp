//===- KfacCosts.cpp - what K-FAC work costs -------------------------------===//
#include "KfacCosts.h"

namespace pfc {

namespace {
constexpr double MiB = 1024.0 * 1024.0;
} // namespace

std::vector<LinearShape> blockLinears(const proto::Model &M) {
  const int64_t H = M.hidden_size();
  const int64_t F = M.ffn_size() > 0 ? M.ffn_size() : 4 * H;
  if (M.linear_layers_per_block() == 4)
    return {{H, 3 * H}, {H, H}, {H, F}, {F, H}};
  return {{H, H}, {H, H}, {H, H}, {H, H}, {H, F}, {F, H}};
}

KfacBlockCost kfacBlockCost(const Program &P) {
  const proto::Model &M = P.Model;
  const proto::DeviceSpec &D = P.Cluster.device();
  const double Tokens = static_cast<double>(M.seq_length()) * M.micro_batch_size();
  const double Eff = D.compute_efficiency() > 0 ? D.compute_efficiency() : 0.5;
  const double Fp32 = (D.peak_tflops_fp32() > 0 ? D.peak_tflops_fp32() : D.peak_tflops_fp16()) *
                      1e12 * Eff;
  auto Ms = [&](double Flops, double Scale = 1) {
    return Fp32 > 0 ? Flops / (Fp32 * Scale) * 1e3 : 0;
  };
  const int64_t ElemBytes = M.precision() == proto::FP32 ? 4 : M.precision() == proto::FP64 ? 8 : 2;

  KfacBlockCost C;
  double FlopsA = 0, FlopsB = 0, CubeA = 0, CubeB = 0, Prec = 0;
  for (LinearShape L : blockLinears(M)) {
    double A = static_cast<double>(L.In + 1), B = static_cast<double>(L.Out);
    FlopsA += 2 * Tokens * A * A;
    FlopsB += 2 * Tokens * B * B;
    CubeA += A * A * A;
    CubeB += B * B * B;
    Prec += 2 * B * A * (A + B);
    C.FactorBytes += static_cast<int64_t>((A * A + B * B) * 4);
    C.SavedInputBytes += static_cast<int64_t>(Tokens) * L.In * ElemBytes;
    C.SavedGradBytes += static_cast<int64_t>(Tokens) * L.Out * ElemBytes;
  }
  C.CurvatureAMs = Ms(FlopsA);
  C.CurvatureBMs = Ms(FlopsB);
  C.InvertAMs = Ms(CubeA, 1.0 / 3);
  C.InvertBMs = Ms(CubeB, 1.0 / 3);
  C.PreconditionMs = Ms(Prec);
  if (P.Options.has_profile()) {
    const proto::BlockProfile &Prof = P.Options.profile();
    // Without model dimensions (a bare profile), split evenly.
    const bool Sized = M.hidden_size() > 0;
    double ShareA = Sized ? FlopsA / (FlopsA + FlopsB) : 0.5;
    double InvShareA = Sized ? CubeA / (CubeA + CubeB) : 0.5;
    C.CurvatureAMs = Prof.kron_ms() * ShareA;
    C.CurvatureBMs = Prof.kron_ms() * (1 - ShareA);
    C.InvertAMs = Prof.inv_ms() * InvShareA;
    C.InvertBMs = Prof.inv_ms() * (1 - InvShareA);
    C.PreconditionMs = Prof.prec_ms();
    C.FactorBytes = static_cast<int64_t>(Prof.kron_mib() * MiB);
    C.SavedGradBytes = static_cast<int64_t>(Prof.save_err_mib() * MiB);
  }
  return C;
}

} // namespace pfc
