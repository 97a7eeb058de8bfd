//===- PlanIO.h - reading and writing plans --------------------------------===//
//
// The format follows the file extension: .pb binary protobuf, .textproto /
// .txtpb / .pbtxt protobuf text format (the IR's textual form), .json JSON.
// Output is deterministic (same plan, same bytes) and written atomically: a
// temporary file renamed into place, so a failure never leaves a partial file.
//
//===----------------------------------------------------------------------===//
#ifndef PFC_BACKENDS_PLANIO_H
#define PFC_BACKENDS_PLANIO_H

#include "plan.pb.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

#include <google/protobuf/text_format.h>

namespace pfc {

/// Parses protobuf text format into \p Msg; the first error is reported as
/// "File:line:col: error: ...". Field locations go to \p Locations if given.
llvm::Error parseTextProto(llvm::StringRef Text, llvm::StringRef File,
                           google::protobuf::Message &Msg,
                           google::protobuf::TextFormat::ParseInfoTree *Locations = nullptr);
/// Parses JSON into \p Msg, naming \p File and the message type on error.
llvm::Error parseJsonProto(llvm::StringRef Text, llvm::StringRef File,
                           google::protobuf::Message &Msg);

enum class PlanFormat { Binary, Text, Json };

/// The format for \p Path's extension, or a user error listing the valid ones.
llvm::Expected<PlanFormat> planFormatFor(llvm::StringRef Path);

/// Serialises a plan deterministically.
std::string serializePlan(const proto::Plan &Plan, PlanFormat Format);

/// Writes \p Contents to \p Path atomically ("-" is standard output).
llvm::Error writeFileAtomically(llvm::StringRef Path, llvm::StringRef Contents);

llvm::Error writePlan(const proto::Plan &Plan, llvm::StringRef Path);
llvm::Expected<proto::Plan> readPlan(llvm::StringRef Path);

} // namespace pfc

#endif
