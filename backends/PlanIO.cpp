//===- PlanIO.cpp - reading and writing plans ------------------------------===//
#include "PlanIO.h"

#include "ir/Diagnostics.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cassert>
#include <limits>

namespace pfc {

namespace pb = google::protobuf;

namespace {
class Collector : public pb::io::ErrorCollector {
public:
  explicit Collector(std::string File) : File(std::move(File)) {}
  void AddError(int Line, pb::io::ColumnNumber Col, const std::string &Msg) override {
    if (First.empty())
      First = fmt::format("{}:{}:{}: error: {}", File, Line + 1, Col + 1, Msg);
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string &) override {}
  std::string First;

private:
  std::string File;
};
} // namespace

llvm::Error parseTextProto(llvm::StringRef Text, llvm::StringRef File, pb::Message &Msg,
                           pb::TextFormat::ParseInfoTree *Locations) {
  Collector Errors(File.str());
  pb::TextFormat::Parser Parser;
  Parser.RecordErrorsTo(&Errors);
  if (Locations)
    Parser.WriteLocationsTo(Locations);
  if (!Parser.ParseFromString(std::string(Text), &Msg))
    return userError("{}", Errors.First.empty() ? File.str() + ": error: cannot parse"
                                                : Errors.First);
  return llvm::Error::success();
}

llvm::Error parseJsonProto(llvm::StringRef Text, llvm::StringRef File, pb::Message &Msg) {
  auto Status = pb::util::JsonStringToMessage(std::string(Text), &Msg);
  if (!Status.ok())
    return userError("{}: error: invalid JSON for {}: {}", File.str(), Msg.GetTypeName(),
                     std::string(Status.message()));
  return llvm::Error::success();
}

llvm::Expected<PlanFormat> planFormatFor(llvm::StringRef Path) {
  llvm::StringRef Ext = llvm::sys::path::extension(Path);
  if (Ext == ".pb")
    return PlanFormat::Binary;
  if (Ext == ".textproto" || Ext == ".txtpb" || Ext == ".pbtxt")
    return PlanFormat::Text;
  if (Ext == ".json")
    return PlanFormat::Json;
  return userError("{}: error: unknown plan extension '{}'; use .pb (binary), .textproto "
                   "(text) or .json",
                   Path.str(), Ext.str());
}

std::string serializePlan(const proto::Plan &Plan, PlanFormat Format) {
  std::string Out;
  switch (Format) {
  case PlanFormat::Binary: {
    // Size first, then write into a buffer allocated once: a string grown by
    // doubling would copy and fault in about twice the plan's size (tens of
    // MiB at a million tasks). ByteSizeLong caches the sizes the write uses.
    const size_t Size = Plan.ByteSizeLong();
    if (Size > static_cast<size_t>(std::numeric_limits<int>::max())) {
      // Over protobuf's 2 GiB limit: let the library report it.
      pb::io::StringOutputStream Stream(&Out);
      pb::io::CodedOutputStream Coded(&Stream);
      Coded.SetSerializationDeterministic(true);
      Plan.SerializeToCodedStream(&Coded);
      break;
    }
    Out.resize(Size);
    pb::io::ArrayOutputStream Stream(Out.data(), static_cast<int>(Size));
    pb::io::CodedOutputStream Coded(&Stream);
    Coded.SetSerializationDeterministic(true);
    Plan.SerializeWithCachedSizes(&Coded);
    assert(!Coded.HadError() && Coded.ByteCount() == static_cast<int64_t>(Size));
    break;
  }
  case PlanFormat::Text:
    pb::TextFormat::PrintToString(Plan, &Out);
    break;
  case PlanFormat::Json: {
    pb::util::JsonPrintOptions Opts;
    Opts.add_whitespace = true;
    Opts.preserve_proto_field_names = true;
    (void)pb::util::MessageToJsonString(Plan, &Out, Opts);
    break;
  }
  }
  return Out;
}

llvm::Error writeFileAtomically(llvm::StringRef Path, llvm::StringRef Contents) {
  if (Path == "-") {
    llvm::outs() << Contents;
    llvm::outs().flush();
    return llvm::Error::success();
  }
  llvm::SmallString<256> Temp(Path);
  Temp += ".tmp-%%%%%%";
  int Fd;
  llvm::SmallString<256> TempPath;
  if (std::error_code EC = llvm::sys::fs::createUniqueFile(Temp, Fd, TempPath))
    return userError("{}: error: cannot create output file: {}", Path.str(), EC.message());
  {
    llvm::raw_fd_ostream OS(Fd, /*shouldClose=*/true);
    OS << Contents;
    OS.close();
    if (OS.has_error()) {
      std::string Msg = OS.error().message();
      OS.clear_error();
      llvm::sys::fs::remove(TempPath);
      return userError("{}: error: cannot write output file: {}", Path.str(), Msg);
    }
  }
  if (std::error_code EC = llvm::sys::fs::rename(TempPath, Path)) {
    llvm::sys::fs::remove(TempPath);
    return userError("{}: error: cannot write output file: {}", Path.str(), EC.message());
  }
  return llvm::Error::success();
}

llvm::Error writePlan(const proto::Plan &Plan, llvm::StringRef Path) {
  llvm::Expected<PlanFormat> Format = planFormatFor(Path);
  if (!Format)
    return Format.takeError();
  return writeFileAtomically(Path, serializePlan(Plan, *Format));
}


llvm::Expected<proto::Plan> readPlan(llvm::StringRef Path) {
  llvm::Expected<PlanFormat> Format = planFormatFor(Path);
  if (!Format)
    return Format.takeError();
  auto Buf = llvm::MemoryBuffer::getFile(Path, /*IsText=*/false);
  if (!Buf)
    return userError("{}: error: cannot read plan: {}", Path.str(), Buf.getError().message());
  llvm::StringRef Data = (*Buf)->getBuffer();
  proto::Plan Plan;
  switch (*Format) {
  case PlanFormat::Binary: {
    pb::io::CodedInputStream In(reinterpret_cast<const uint8_t *>(Data.data()),
                                static_cast<int>(Data.size()));
    In.SetRecursionLimit(100);
    if (!Plan.ParseFromCodedStream(&In) || !In.ConsumedEntireMessage())
      return userError("{}: error: not a binary pfc plan (protobuf parse failed); text plans "
                       "use the .textproto extension",
                       Path.str());
    break;
  }
  case PlanFormat::Text:
    if (llvm::Error E = parseTextProto(Data, Path, Plan))
      return E;
    break;
  case PlanFormat::Json:
    if (llvm::Error E = parseJsonProto(Data, Path, Plan))
      return E;
    break;
  }
  return Plan;
}

} // namespace pfc
