//===- LrSchedule.cpp - learning rate as a function of the training step ---===//
#include "LrSchedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace pfc::interp {

double LrSchedule::at(int64_t T) const {
  const int64_t S = std::max<int64_t>(1, Steps);
  T = std::clamp<int64_t>(T, 1, S);
  const int64_t W = std::clamp<int64_t>(Warmup, 0, S);
  if (T <= W)
    return Base * static_cast<double>(T) / static_cast<double>(W);
  const double P = static_cast<double>(T - W) / static_cast<double>(S - W);
  switch (Shape) {
  case Constant:
    return Base;
  case Linear:
    return Base * (MinRatio + (1 - MinRatio) * (1 - P));
  case Cosine:
    return Base * (MinRatio + (1 - MinRatio) * (1 + std::cos(std::numbers::pi * P)) / 2);
  }
  return Base;
}

std::string_view LrSchedule::name(Kind K) {
  return K == Cosine ? "cosine" : K == Linear ? "linear" : "constant";
}

} // namespace pfc::interp
