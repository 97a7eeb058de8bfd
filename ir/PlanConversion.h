//===- PlanConversion.h - IR <-> plan protobuf -----------------------------===//
//
// The plan protobuf is the IR's textual form: toPlan and fromPlan round-trip.
// fromPlan validates structure (ids in range, streams consistent) and reports
// malformed plans as user errors naming the field.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_IR_PLANCONVERSION_H
#define PFC_IR_PLANCONVERSION_H

#include "Program.h"

#include "llvm/Support/Error.h"

namespace pfc {

inline constexpr int32_t PlanVersion = 1;

proto::Plan toPlan(const Program &P);
/// \p Source names the plan in error messages.
llvm::Expected<Program> fromPlan(const proto::Plan &Plan, llvm::StringRef Source);

} // namespace pfc

#endif
