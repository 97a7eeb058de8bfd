//===- Random.h - seeded, platform-independent random numbers --------------===//
//
// Initialisation and synthetic data must be reproducible bit for bit across
// compilers and standard libraries, which std::normal_distribution is not.
// SplitMix64 gives the stream; Box-Muller turns it into normals. Each
// parameter draws from its own stream derived from (seed, parameter index), so
// a model's values do not depend on how it is split into stages.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_INTERP_RANDOM_H
#define PFC_BACKENDS_INTERP_RANDOM_H

#include "Tensor.h"

#include <cmath>
#include <cstdint>

namespace pfc::interp {

class Rng {
public:
  explicit Rng(uint64_t Seed) : State(Seed) {}
  /// An independent stream for sub-stream \p Index of \p Seed. It starts
  /// from a mixed state (one SplitMix64 output), not from
  /// Seed ^ γ·(Index + 1) itself: the state advances by γ per draw, so
  /// streams started there for nearby indices are shifted copies of each
  /// other (with seed 1, stream i + 2 is stream i two draws on), which made
  /// consecutive batches repeat each other and blocks start alike.
  static Rng derive(uint64_t Seed, uint64_t Index) {
    Rng R(Seed ^ (0x9e3779b97f4a7c15ull * (Index + 1)));
    return Rng(R.next());
  }

  uint64_t next() {
    uint64_t Z = (State += 0x9e3779b97f4a7c15ull);
    Z = (Z ^ (Z >> 30)) * 0xbf58476d1ce4e5b9ull;
    Z = (Z ^ (Z >> 27)) * 0x94d049bb133111ebull;
    return Z ^ (Z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, N).
  int64_t below(int64_t N) { return static_cast<int64_t>(uniform() * static_cast<double>(N)); }
  double normal() {
    double U1 = 1.0 - uniform(); // (0, 1]
    double U2 = uniform();
    return std::sqrt(-2.0 * std::log(U1)) * std::cos(6.283185307179586 * U2);
  }

private:
  uint64_t State;
};

/// Fills \p X with Mean + Std * N(0, 1).
template <typename T> void fillNormal(Tensor<T> &X, Rng &R, double Std, double Mean = 0) {
  for (int64_t I = 0; I < X.numel(); ++I)
    X[I] = static_cast<T>(Mean + Std * R.normal());
}

/// Fills \p X with values uniform in [Lo, Hi).
template <typename T> void fillUniform(Tensor<T> &X, Rng &R, double Lo, double Hi) {
  for (int64_t I = 0; I < X.numel(); ++I)
    X[I] = static_cast<T>(Lo + (Hi - Lo) * R.uniform());
}

} // namespace pfc::interp

#endif
