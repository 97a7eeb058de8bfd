//===- InputLoader.cpp - everything a user hands to pfc --------------------===//
//
// Parsing goes through protobuf (text format or JSON); the diagnostics around
// it are pfc's own. Protobuf's first text-format error is re-pointed at the
// offending name and completed with what would be valid (the message's fields,
// the enum's values); JSON syntax errors get a line and column from llvm::json
// and protobuf's JSON errors are restated with the field path; semantic checks
// name a field by its path ("inter_node.bandwidth_gbps"), which a text input
// resolves to a line and column through protobuf's ParseInfoTree.
//
//===----------------------------------------------------------------------===//
#include "InputLoader.h"

#include "Presets.h"
#include "backends/PlanIO.h"
#include "ir/Diagnostics.h"
#include "ir/PlanConversion.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include <cmath>
#include <memory>
#include <set>

namespace pfc {

namespace {

namespace pb = google::protobuf;

//===----------------------------------------------------------------------===//
// What would be valid
//===----------------------------------------------------------------------===//

std::string fieldNames(const pb::Descriptor *D) {
  std::vector<std::string> Names;
  for (int I = 0; I < D->field_count(); ++I)
    Names.push_back(D->field(I)->name());
  return llvm::join(Names, ", ");
}

std::string enumValues(const pb::EnumDescriptor *E) {
  std::vector<std::string> Names;
  for (int I = 0; I < E->value_count(); ++I)
    Names.push_back(E->value(I)->name());
  return llvm::join(Names, ", ");
}

/// A field by its proto name or its JSON (lowerCamel) name.
const pb::FieldDescriptor *findField(const pb::Descriptor *D, llvm::StringRef Name) {
  if (const pb::FieldDescriptor *F = D->FindFieldByName(Name.str()))
    return F;
  return D->FindFieldByCamelcaseName(Name.str());
}

/// " (did you mean "x"?)" for the field of \p D nearest to \p Name, if near.
std::string suggestField(const pb::Descriptor *D, llvm::StringRef Name) {
  const pb::FieldDescriptor *Best = nullptr;
  unsigned BestDistance = std::max<unsigned>(2, Name.size() / 3) + 1;
  for (int I = 0; I < D->field_count(); ++I) {
    const pb::FieldDescriptor *F = D->field(I);
    for (llvm::StringRef Candidate :
         {llvm::StringRef(F->name()), llvm::StringRef(F->json_name())}) {
      unsigned Distance = Candidate.edit_distance(Name, /*AllowReplacements=*/true);
      // A prefix ("hidden" for "hidden_size") is near whatever its length.
      if (Candidate.startswith(Name) && Name.size() >= 3)
        Distance = 1;
      if (Distance < BestDistance) {
        Best = F;
        BestDistance = Distance;
      }
    }
  }
  return Best ? fmt::format(" (did you mean \"{}\"?)", Best->name()) : "";
}

/// The enum type of a field called \p Name anywhere under \p D.
const pb::EnumDescriptor *findEnumField(const pb::Descriptor *D, llvm::StringRef Name,
                                        std::set<const pb::Descriptor *> &Seen) {
  if (!Seen.insert(D).second)
    return nullptr;
  for (int I = 0; I < D->field_count(); ++I) {
    const pb::FieldDescriptor *F = D->field(I);
    if (F->enum_type() && (F->name() == Name || F->json_name() == Name))
      return F->enum_type();
    if (F->message_type())
      if (const pb::EnumDescriptor *E = findEnumField(F->message_type(), Name, Seen))
        return E;
  }
  return nullptr;
}

/// What a JSON value for \p F must look like.
std::string expectedJson(const pb::FieldDescriptor *F) {
  switch (F->cpp_type()) {
  case pb::FieldDescriptor::CPPTYPE_INT32:
  case pb::FieldDescriptor::CPPTYPE_INT64:
    return "an integer";
  case pb::FieldDescriptor::CPPTYPE_UINT32:
  case pb::FieldDescriptor::CPPTYPE_UINT64:
    return "a non-negative integer";
  case pb::FieldDescriptor::CPPTYPE_DOUBLE:
  case pb::FieldDescriptor::CPPTYPE_FLOAT:
    return "a number";
  case pb::FieldDescriptor::CPPTYPE_BOOL:
    return "true or false";
  case pb::FieldDescriptor::CPPTYPE_STRING:
    return "a string";
  case pb::FieldDescriptor::CPPTYPE_ENUM:
    return "one of " + enumValues(F->enum_type());
  case pb::FieldDescriptor::CPPTYPE_MESSAGE:
    return "an object with the fields " + fieldNames(F->message_type());
  }
  return "a value of type " + std::string(F->type_name());
}

//===----------------------------------------------------------------------===//
// Field paths and where they were written
//===----------------------------------------------------------------------===//

/// One step of a field path such as "tasks[3].deps": a name and an optional
/// index (-1 when absent).
struct PathStep {
  llvm::StringRef Name;
  int Index = -1;
};

llvm::SmallVector<PathStep, 4> splitPath(llvm::StringRef Path) {
  llvm::SmallVector<llvm::StringRef, 4> Parts;
  Path.split(Parts, '.');
  llvm::SmallVector<PathStep, 4> Steps;
  for (llvm::StringRef Part : Parts) {
    PathStep S{Part};
    if (Part.endswith("]")) {
      auto [Name, Rest] = Part.split('[');
      S.Name = Name;
      if (Rest.drop_back().getAsInteger(10, S.Index))
        S.Index = -1;
    }
    Steps.push_back(S);
  }
  return Steps;
}

/// One parsed input: its name in messages, its message type, and where each
/// field was written (text format: a ParseInfoTree; JSON: the document).
struct Source {
  std::string File;
  const pb::Descriptor *Root = nullptr;
  bool Json = false;
  pb::TextFormat::ParseInfoTree Tree;
  llvm::json::Value Doc = nullptr;
  /// A nested view (nested()): where its fields were written, inside the
  /// enclosing input's Tree or Doc; null when it was not written at all.
  bool IsView = false;
  const pb::TextFormat::ParseInfoTree *TreeView = nullptr;
  const llvm::json::Value *DocView = nullptr;

  const pb::TextFormat::ParseInfoTree *tree() const { return IsView ? TreeView : &Tree; }
  const llvm::json::Value *doc() const { return IsView ? DocView : &Doc; }

  /// Message field \p Field of this input as an input of its own, so that
  /// the checks of a model or cluster file apply to a plan's copy: paths,
  /// names ("Model.hidden_size") and locations relative to it.
  std::unique_ptr<Source> nested(llvm::StringRef Field) const {
    auto S = std::make_unique<Source>();
    const pb::FieldDescriptor *F = Root->FindFieldByName(Field.str());
    S->File = File;
    S->Root = F->message_type();
    S->Json = Json;
    S->IsView = true;
    if (Json) {
      const llvm::json::Object *O = doc() ? doc()->getAsObject() : nullptr;
      const llvm::json::Value *V = O ? O->get(F->name()) : nullptr;
      S->DocView = V || !O ? V : O->get(F->json_name());
    } else if (tree()) {
      S->TreeView = tree()->GetTreeForNested(F, -1);
    }
    return S;
  }

  /// "Model.hidden_size" for "hidden_size".
  std::string name(llvm::StringRef Path) const { return Root->name() + "." + Path.str(); }

  /// "File:line:col" of the field at \p Path in a text input, or of its
  /// nearest written ancestor (a repeated field without an index resolves to
  /// its parent); "File" for JSON or when nothing on the path was written.
  std::string at(llvm::StringRef Path) const {
    std::string Best = File;
    if (Json)
      return Best;
    const pb::TextFormat::ParseInfoTree *T = tree();
    const pb::Descriptor *D = Root;
    for (const PathStep &S : splitPath(Path)) {
      const pb::FieldDescriptor *F = D ? D->FindFieldByName(S.Name.str()) : nullptr;
      if (!F || !T || (F->is_repeated() && S.Index < 0))
        break;
      int Index = F->is_repeated() ? S.Index : -1;
      pb::TextFormat::ParseLocation L = T->GetLocation(F, Index);
      if (L.line < 0)
        break;
      Best = fmt::format("{}:{}:{}", File, L.line + 1, L.column + 1);
      D = F->message_type();
      T = D ? T->GetTreeForNested(F, Index) : nullptr;
    }
    return Best;
  }

  /// Whether the field at \p Path was written in the input (proto3 scalars
  /// have no presence, so a missing field and a zero look the same otherwise).
  bool written(llvm::StringRef Path) const {
    const pb::Descriptor *D = Root;
    if (Json) {
      const llvm::json::Value *V = doc();
      for (const PathStep &S : splitPath(Path)) {
        const llvm::json::Object *O = V ? V->getAsObject() : nullptr;
        const pb::FieldDescriptor *F = D ? D->FindFieldByName(S.Name.str()) : nullptr;
        if (!O || !F)
          return false;
        V = O->get(F->name());
        if (!V)
          V = O->get(F->json_name());
        if (!V || V->kind() == llvm::json::Value::Null)
          return false;
        if (S.Index >= 0) {
          const llvm::json::Array *A = V->getAsArray();
          if (!A || S.Index >= static_cast<int>(A->size()))
            return false;
          V = &(*A)[S.Index];
        }
        D = F->message_type();
      }
      return true;
    }
    const pb::TextFormat::ParseInfoTree *T = tree();
    for (const PathStep &S : splitPath(Path)) {
      const pb::FieldDescriptor *F = D ? D->FindFieldByName(S.Name.str()) : nullptr;
      if (!F || !T)
        return false;
      int Index = F->is_repeated() ? std::max(0, S.Index) : -1;
      if (T->GetLocation(F, Index).line < 0)
        return false;
      D = F->message_type();
      T = D ? T->GetTreeForNested(F, Index) : nullptr;
    }
    return true;
  }

  std::string formatName() const { return Json ? "JSON" : "protobuf text format"; }
};

//===----------------------------------------------------------------------===//
// Reading and parsing
//===----------------------------------------------------------------------===//

/// Reads \p Path; a directory or an unreadable file is a user error ending
/// with \p Expect.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readFile(llvm::StringRef Path, llvm::StringRef What, llvm::StringRef Expect) {
  if (llvm::sys::fs::is_directory(Path))
    return userError("{}: error: is a directory, not a {} file; {}", Path.str(), What.str(),
                     Expect.str());
  auto Buf = llvm::MemoryBuffer::getFile(Path, /*IsText=*/false);
  if (!Buf)
    return userError("{}: error: cannot read {} file: {}; {}", Path.str(), What.str(),
                     Buf.getError().message(), Expect.str());
  return std::move(*Buf);
}

/// Whether \p Data is not text: a NUL or another control character, or bytes
/// that are not UTF-8.
bool looksBinary(llvm::StringRef Data) {
  for (unsigned char C : Data)
    if (C == 0 || (C < 0x20 && !llvm::StringRef("\t\n\r\f\v").contains(C)) || C == 0x7f)
      return true;
  return !llvm::json::isUTF8(Data);
}

char firstNonSpace(llvm::StringRef Text) {
  llvm::StringRef T = Text.ltrim();
  return T.empty() ? '\0' : T.front();
}

/// The first error protobuf's text parser reports.
class FirstError : public pb::io::ErrorCollector {
public:
  void AddError(int Line, pb::io::ColumnNumber Column, const std::string &Message) override {
    if (!Seen) {
      Seen = true;
      this->Line = Line;
      this->Column = Column;
      this->Message = Message;
    }
  }
  bool Seen = false;
  int Line = 0;
  int Column = 0;
  std::string Message;
};

/// Protobuf reports an unknown field or enum value at the token after it.
/// Returns the 0-based line and column of the last whole-word occurrence of
/// \p Word before (\p Line, \p Column) outside comments, or the reported
/// position if there is none.
std::pair<int, int> pointAtWord(llvm::StringRef Text, int Line, int Column, llvm::StringRef Word) {
  // Byte offset of the reported position (protobuf expands tabs to 8).
  size_t LineStart = 0;
  for (int L = 0; L < Line && LineStart != llvm::StringRef::npos; ++L) {
    LineStart = Text.find('\n', LineStart);
    if (LineStart != llvm::StringRef::npos)
      ++LineStart;
  }
  if (LineStart == llvm::StringRef::npos)
    LineStart = Text.size();
  size_t End = LineStart;
  for (int Col = 0; End < Text.size() && Text[End] != '\n' && Col < Column; ++End)
    Col = Text[End] == '\t' ? (Col + 8) & ~7 : Col + 1;
  auto IsWordChar = [](char C) { return llvm::isAlnum(C) || C == '_'; };
  for (size_t Pos = Text.substr(0, End).rfind(Word); Pos != llvm::StringRef::npos;
       Pos = Pos ? Text.substr(0, Pos).rfind(Word) : llvm::StringRef::npos) {
    size_t After = Pos + Word.size();
    if ((Pos > 0 && IsWordChar(Text[Pos - 1])) || (After < Text.size() && IsWordChar(Text[After])))
      continue;
    size_t Start = Text.substr(0, Pos).rfind('\n');
    Start = Start == llvm::StringRef::npos ? 0 : Start + 1;
    if (Text.substr(Start, Pos - Start).contains('#'))
      continue;
    int Col = 0;
    for (size_t I = Start; I < Pos; ++I)
      Col = Text[I] == '\t' ? (Col + 8) & ~7 : Col + 1;
    return {static_cast<int>(Text.substr(0, Start).count('\n')), Col};
  }
  return {Line, Column};
}

/// Parses protobuf text format into \p Msg, recording field locations in
/// Src.Tree if \p Locate; the first error says what would have been valid.
llvm::Error parseText(llvm::StringRef Text, Source &Src, pb::Message &Msg, bool Locate = true) {
  FirstError Errors;
  pb::TextFormat::Parser Parser;
  Parser.RecordErrorsTo(&Errors);
  if (Locate)
    Parser.WriteLocationsTo(&Src.Tree);
  if (Parser.ParseFromString(std::string(Text), &Msg))
    return llvm::Error::success();
  int Line = Errors.Line, Column = Errors.Column;
  std::string What = Errors.Seen ? Errors.Message : "cannot parse";
  llvm::SmallVector<llvm::StringRef, 3> M;
  static const llvm::Regex NoField("^Message type \"([^\"]+)\" has no field named \"([^\"]+)\"");
  static const llvm::Regex BadEnum("^Unknown enumeration value of \"([^\"]+)\" for field "
                                   "\"([^\"]+)\"");
  static const llvm::Regex Twice("^Non-repeated field \"([^\"]+)\" is specified multiple times");
  if (NoField.match(What, &M)) {
    const pb::Descriptor *D =
        pb::DescriptorPool::generated_pool()->FindMessageTypeByName(M[1].str());
    std::tie(Line, Column) = pointAtWord(Text, Line, Column, M[2]);
    if (D)
      What = fmt::format("{} has no field named \"{}\"{}; valid fields: {}", D->name(), M[2].str(),
                         suggestField(D, M[2]), fieldNames(D));
  } else if (BadEnum.match(What, &M)) {
    std::set<const pb::Descriptor *> Seen;
    std::tie(Line, Column) = pointAtWord(Text, Line, Column, M[1]);
    if (const pb::EnumDescriptor *E = findEnumField(Src.Root, M[2], Seen))
      What = fmt::format("unknown value \"{}\" for field \"{}\"; valid values: {}", M[1].str(),
                         M[2].str(), enumValues(E));
  } else if (Twice.match(What, &M)) {
    std::tie(Line, Column) = pointAtWord(Text, Line, Column, M[1]);
    What = fmt::format("field \"{}\" is given twice; give it once", M[1].str());
  } else if (firstNonSpace(Text) == '{') {
    What += "; this looks like JSON: JSON files need the .json extension";
  }
  return userError("{}:{}:{}: error: {}", Src.File, Line + 1, Column + 1, What);
}

/// Parses JSON into \p Msg, keeping the document in Src.Doc.
llvm::Error parseJson(llvm::StringRef Text, Source &Src, pb::Message &Msg) {
  llvm::Expected<llvm::json::Value> Doc = llvm::json::parse(Text);
  if (!Doc) {
    // llvm::json reports "[line:column, byte=N]: message".
    std::string Error = llvm::toString(Doc.takeError());
    llvm::SmallVector<llvm::StringRef, 4> M;
    static const llvm::Regex Where("^\\[([0-9]+):([0-9]+), byte=[0-9]+\\]: (.*)$");
    std::string Hint = llvm::isAlpha(firstNonSpace(Text)) || firstNonSpace(Text) == '#'
                           ? "; this looks like protobuf text format: name the file .textproto"
                           : "";
    if (!Where.match(Error, &M))
      return userError("{}: error: invalid JSON: {}{}", Src.File, Error, Hint);
    unsigned Column = 1;
    M[2].getAsInteger(10, Column);
    return userError("{}:{}:{}: error: invalid JSON: {}{}", Src.File, M[1].str(),
                     std::max(1u, Column), M[3].str(), Hint);
  }
  if (!Doc->getAsObject())
    return userError("{}: error: expected a JSON object holding a {} (fields: {})", Src.File,
                     Src.Root->name(), fieldNames(Src.Root));
  Src.Doc = std::move(*Doc);
  auto Status = pb::util::JsonStringToMessage(std::string(Text), &Msg);
  if (Status.ok())
    return llvm::Error::success();
  // Protobuf names the field by its JSON path: "(device) mem: Cannot find
  // field." or "(num_layers): invalid value "x" for type TYPE_INT32".
  std::string What(Status.message());
  llvm::SmallVector<llvm::StringRef, 4> M;
  static const llvm::Regex NoField("^(\\(([A-Za-z0-9_.]+)\\) )?([A-Za-z0-9_]+): Cannot find field");
  static const llvm::Regex BadValue("^\\(([A-Za-z0-9_.]+)\\): invalid value (.*) for type ");
  auto Resolve = [&](llvm::StringRef Path, std::string &Named,
                     const pb::Descriptor *&Parent) -> const pb::FieldDescriptor * {
    Parent = Src.Root;
    Named = Src.Root->name();
    const pb::FieldDescriptor *F = nullptr;
    for (const PathStep &S : splitPath(Path)) {
      if (!Parent || !(F = findField(Parent, S.Name)))
        return nullptr;
      Named += "." + F->name();
      Parent = F->message_type();
    }
    return F;
  };
  std::string Named = Src.Root->name();
  const pb::Descriptor *D = Src.Root;
  if (NoField.match(What, &M)) {
    if ((M[2].empty() || Resolve(M[2], Named, D)) && D)
      return userError("{}: error: {} has no field named \"{}\"{}; valid fields: {}", Src.File,
                       Named, M[3].str(), suggestField(D, M[3]), fieldNames(D));
  } else if (BadValue.match(What, &M)) {
    if (const pb::FieldDescriptor *F = Resolve(M[1], Named, D))
      return userError("{}: error: {} has an invalid value {}; expected {}", Src.File, Named,
                       M[2].str(), expectedJson(F));
  }
  return userError("{}: error: invalid JSON for {}: {}", Src.File, Src.Root->name(), What);
}

/// Reads a preset or a model/cluster file into \p Msg.
llvm::Error readDescription(const std::string &NameOrPath, pb::Message &Msg, Source &Src,
                            bool IsModel) {
  Src.Root = Msg.GetDescriptor();
  const char *Kind = IsModel ? "model" : "cluster";
  if (const char *Text = IsModel ? findModelPreset(NameOrPath) : findClusterPreset(NameOrPath)) {
    Src.File = "<preset " + NameOrPath + ">";
    return parseText(Text, Src, Msg);
  }
  auto Names = IsModel ? modelPresets() : clusterPresets();
  auto Buf = readFile(
      NameOrPath, Kind,
      fmt::format("give a .textproto or .json file, or a preset: {}", llvm::join(Names, ", ")));
  if (!Buf)
    return Buf.takeError();
  llvm::StringRef Data = (*Buf)->getBuffer();
  Src.File = NameOrPath;
  Src.Json = llvm::StringRef(NameOrPath).endswith(".json");
  std::string Example =
      fmt::format("examples/{}s/{}.{}", Kind, IsModel ? "bert-base" : "p100-cluster",
                  Src.Json ? "json" : "textproto");
  if (Data.trim().empty())
    return userError("{}: error: the file is empty; expected a {} in {} (see {})", Src.File,
                     Src.Root->name(), Src.formatName(), Example);
  if (looksBinary(Data))
    return userError("{}: error: this is a binary file, not {}; give a {} as a .textproto or "
                     ".json file (see {})",
                     Src.File, Src.formatName(), Src.Root->name(), Example);
  return Src.Json ? parseJson(Data, Src, Msg) : parseText(Data, Src, Msg);
}

//===----------------------------------------------------------------------===//
// Semantic checks
//===----------------------------------------------------------------------===//

/// An integer field that must lie in [Min, Max]; \p Note says what a special
/// value means or what the field is.
struct IntRule {
  const char *Path;
  int64_t Value;
  int64_t Min, Max;
  const char *Note = "";
};

llvm::Error check(const Source &Src, const IntRule &R) {
  if (R.Value >= R.Min && R.Value <= R.Max)
    return llvm::Error::success();
  if (R.Min > 0 && !Src.written(R.Path))
    return userError("{}: error: {} is missing; give {}, a positive integer", Src.at(R.Path),
                     Src.name(R.Path), R.Note);
  std::string Range = R.Value < R.Min ? (R.Min == 1 ? "positive" : fmt::format(">= {}", R.Min))
                                      : fmt::format("at most {}", R.Max);
  return userError("{}: error: {} must be {}{} (got {})", Src.at(R.Path), Src.name(R.Path), Range,
                   R.Min > 0 ? "" : R.Note, R.Value);
}

/// A floating-point field that must be finite and lie in (0, Max], or in
/// [0, Max] when \p ZeroOk.
struct RealRule {
  const char *Path;
  double Value;
  bool ZeroOk;
  double Max;
  const char *Note = "";
};

llvm::Error check(const Source &Src, const RealRule &R) {
  bool Ok = std::isfinite(R.Value) && (R.ZeroOk ? R.Value >= 0 : R.Value > 0) && R.Value <= R.Max;
  if (Ok)
    return llvm::Error::success();
  if (!R.ZeroOk && R.Value == 0 && !Src.written(R.Path))
    return userError("{}: error: {} is missing; give {}, a positive number", Src.at(R.Path),
                     Src.name(R.Path), R.Note);
  std::string Range = !std::isfinite(R.Value) ? "a finite number"
                      : R.Value > R.Max       ? fmt::format("at most {}", R.Max)
                      : R.ZeroOk              ? ">= 0"
                                              : "positive";
  bool Noted = R.ZeroOk && std::isfinite(R.Value);
  return userError("{}: error: {} must be {}{} (got {})", Src.at(R.Path), Src.name(R.Path), Range,
                   Noted ? R.Note : "", R.Value);
}

/// Divisors of \p N nearest to \p Near, below and above: "2, 4".
std::string divisorsNear(int64_t N, int64_t Near) {
  std::vector<std::string> Out;
  for (int64_t D = std::min(Near - 1, N); D >= 1; --D)
    if (N % D == 0) {
      Out.push_back(std::to_string(D));
      break;
    }
  for (int64_t D = Near + 1; D <= N; ++D)
    if (N % D == 0) {
      Out.push_back(std::to_string(D));
      break;
    }
  return llvm::join(Out, " or ");
}

/// Upper bounds keep every size pfc derives within 64-bit integers; they are
/// far above any real model.
llvm::Error checkModel(const Source &Src, const proto::Model &M) {
  for (const IntRule &R : {
           IntRule{"num_layers", M.num_layers(), 1, 10000, "the number of Transformer blocks"},
           IntRule{"hidden_size", M.hidden_size(), 1, 1 << 18, "the hidden size"},
           IntRule{"num_heads", M.num_heads(), 1, 1 << 18, "the number of attention heads"},
           IntRule{"seq_length", M.seq_length(), 1, 1 << 20, "the tokens per sequence"},
           IntRule{"vocab_size", M.vocab_size(), 1, 1 << 24, "the vocabulary size"},
           IntRule{"micro_batch_size", M.micro_batch_size(), 1, 1 << 16,
                   "the sequences per micro-batch"},
           IntRule{"ffn_size", M.ffn_size(), 0, 1 << 20, ", where 0 means 4 x hidden_size"},
           IntRule{"linear_layers_per_block", M.linear_layers_per_block(), 0, 64,
                   ", where 0 means 6"},
       })
    if (llvm::Error E = check(Src, R))
      return E;
  if (!proto::Precision_IsValid(M.precision()))
    return userError("{}: error: Model.precision {} is not a precision; valid values: {}",
                     Src.at("precision"), static_cast<int>(M.precision()),
                     enumValues(proto::Precision_descriptor()));
  if (M.hidden_size() % M.num_heads() != 0)
    return userError("{}: error: Model.num_heads ({}) must divide hidden_size ({}); the "
                     "nearest head counts that do: {}",
                     Src.at("num_heads"), M.num_heads(), M.hidden_size(),
                     divisorsNear(M.hidden_size(), M.num_heads()));
  // Bounds the activation sizes the cost model derives (tokens x widths).
  double Tokens = static_cast<double>(M.seq_length()) * M.micro_batch_size();
  double Scale = Tokens * (static_cast<double>(M.hidden_size()) + M.vocab_size() +
                           static_cast<double>(M.num_heads()) * M.seq_length());
  constexpr double MaxScale = 1ull << 44;
  if (Scale > MaxScale)
    return userError("{}: error: Model is too large: seq_length x micro_batch_size x "
                     "(hidden_size + vocab_size + num_heads x seq_length) is {:.3g}, above the "
                     "{:.3g} pfc can cost; reduce micro_batch_size or seq_length",
                     Src.at("micro_batch_size"), Scale, MaxScale);
  return llvm::Error::success();
}

llvm::Error checkCluster(const Source &Src, const proto::Cluster &C, const proto::Model *Model) {
  for (const IntRule &R : {
           IntRule{"num_nodes", C.num_nodes(), 1, 1 << 16, "the number of nodes"},
           IntRule{"gpus_per_node", C.gpus_per_node(), 1, 1024, "the GPUs in each node"},
       })
    if (llvm::Error E = check(Src, R))
      return E;
  if (!C.has_device())
    return userError("{}: error: Cluster.device is missing; give device {{ peak_tflops_fp32: F "
                     "peak_tflops_fp16: H memory_gib: M memory_bandwidth_gbps: B }} (see "
                     "examples/clusters/p100-cluster.textproto)",
                     Src.at("device"));
  const proto::DeviceSpec &D = C.device();
  for (const RealRule &R : {
           RealRule{"device.memory_gib", D.memory_gib(), false, 1 << 20, "the device memory"},
           RealRule{"device.memory_bandwidth_gbps", D.memory_bandwidth_gbps(), false, 1e9,
                    "the device memory bandwidth in GB/s"},
           RealRule{"device.peak_tflops_fp32", D.peak_tflops_fp32(), true, 1e9},
           RealRule{"device.peak_tflops_fp16", D.peak_tflops_fp16(), true, 1e9},
           RealRule{"device.peak_tflops_fp64", D.peak_tflops_fp64(), true, 1e9},
           RealRule{"device.compute_efficiency", D.compute_efficiency(), true, 1,
                    ", where 0 means 0.5"},
       })
    if (llvm::Error E = check(Src, R))
      return E;
  if (Model) {
    // The cost model uses the peak of the model's precision (BF16 and unset
    // use the FP16 tensor-core peak).
    auto [Field, Peak] =
        Model->precision() == proto::FP32   ? std::pair{"peak_tflops_fp32", D.peak_tflops_fp32()}
        : Model->precision() == proto::FP64 ? std::pair{"peak_tflops_fp64", D.peak_tflops_fp64()}
                                            : std::pair{"peak_tflops_fp16", D.peak_tflops_fp16()};
    std::string Path = std::string("device.") + Field;
    if (Peak <= 0)
      return userError("{}: error: {} must be positive for model '{}', which computes in {} "
                       "(got {})",
                       Src.at(Path), Src.name(Path), Model->name(),
                       proto::Precision_Name(Model->precision() ? Model->precision() : proto::FP16),
                       Peak);
  } else if (D.peak_tflops_fp16() <= 0 && D.peak_tflops_fp32() <= 0) {
    return userError("{}: error: Cluster.device needs peak_tflops_fp16 or peak_tflops_fp32 > 0",
                     Src.at("device"));
  }
  struct LinkRule {
    const char *Name;
    bool Present;
    const proto::LinkSpec &Spec;
    int32_t Users; ///< GPUs per node or nodes: the link is needed when > 1.
    const char *Why;
  };
  for (const LinkRule &L :
       {LinkRule{"intra_node", C.has_intra_node(), C.intra_node(), C.gpus_per_node(),
                 "GPUs per node"},
        LinkRule{"inter_node", C.has_inter_node(), C.inter_node(), C.num_nodes(), "nodes"}}) {
    if (!L.Present && L.Users <= 1)
      continue;
    if (!L.Present)
      return userError("{}: error: Cluster.{} is missing; {} {} need it: give {} {{ "
                       "bandwidth_gbps: B latency_us: L }}",
                       Src.File, L.Name, L.Users, L.Why, L.Name);
    std::string Bandwidth = std::string(L.Name) + ".bandwidth_gbps";
    std::string Latency = std::string(L.Name) + ".latency_us";
    for (const RealRule &R : {
             RealRule{Bandwidth.c_str(), L.Spec.bandwidth_gbps(), false, 1e9,
                      "the link bandwidth in GB/s per direction"},
             RealRule{Latency.c_str(), L.Spec.latency_us(), true, 1e9},
         })
      if (llvm::Error E = check(Src, R))
        return E;
  }
  return llvm::Error::success();
}

/// "invalid plan: FIELD: ..." errors of fromPlan, re-pointed at the field's
/// line and column in the text plan \p Src.
llvm::Error locatePlanError(llvm::Error E, const Source &Src) {
  return llvm::handleErrors(std::move(E), [&](const UserError &U) -> llvm::Error {
    std::string Prefix = Src.File + ": error: invalid plan: ";
    llvm::StringRef Text = U.text();
    if (Text.startswith(Prefix)) {
      llvm::StringRef Rest = Text.drop_front(Prefix.size());
      llvm::StringRef Field = Rest.split(": ").first;
      std::string Where = Src.at(Field);
      if (Where != Src.File)
        return llvm::make_error<UserError>(
            fmt::format("{}: error: invalid plan: {}", Where, Rest.str()), U.exitCode());
    }
    return llvm::make_error<UserError>(U.text(), U.exitCode());
  });
}

/// Options a plan from elsewhere could set beyond what the passes can hold
/// (the limits of pfc compile's flags).
llvm::Error checkPlanOptions(const Source &Src, const proto::Plan &Plan) {
  const proto::CompileOptions &O = Plan.options();
  for (auto [Path, Value, Max] : {std::tuple{"options.stages", O.stages(), 1 << 16},
                                  {"options.microbatches", O.microbatches(), 1 << 20},
                                  {"options.virtual_stages", O.virtual_stages(), 1 << 10},
                                  {"options.data_parallel", O.data_parallel(), 1 << 20}})
    if (Value < 0 || Value > Max)
      return userError("{}: error: invalid plan: {} must be in [0, {}] (got {})", Src.at(Path),
                       Path, Max, Value);
  int64_t Work = static_cast<int64_t>(std::max(1, O.stages())) * std::max(1, O.virtual_stages()) *
                 std::max(1, O.microbatches());
  if (Work > (1 << 20))
    return userError("{}: error: invalid plan: options.stages x virtual_stages x microbatches "
                     "is {}, more than the {} pfc plans",
                     Src.at("options"), Work, 1 << 20);
  return llvm::Error::success();
}

/// A measured profile as a plan carries it (options.profile): what the
/// profile CSV loader guarantees, finite non-negative times and sizes.
llvm::Error checkProfile(const Source &Src, const proto::BlockProfile &B) {
  if (llvm::Error E = check(Src, IntRule{"micro_batch_size", B.micro_batch_size(), 1, 1 << 16,
                                         "the micro-batch size the profile was measured at"}))
    return E;
  constexpr double Max = 1e12;
  for (const RealRule &R : {
           RealRule{"forward_ms", B.forward_ms(), true, Max},
           RealRule{"backward_ms", B.backward_ms(), true, Max},
           RealRule{"kron_ms", B.kron_ms(), true, Max},
           RealRule{"inv_ms", B.inv_ms(), true, Max},
           RealRule{"prec_ms", B.prec_ms(), true, Max},
           RealRule{"param_mib", B.param_mib(), true, Max},
           RealRule{"act_mib", B.act_mib(), true, Max},
           RealRule{"peak_err_mib", B.peak_err_mib(), true, Max},
           RealRule{"save_err_mib", B.save_err_mib(), true, Max},
           RealRule{"kron_mib", B.kron_mib(), true, Max},
           RealRule{"embedding.forward_ms", B.embedding().forward_ms(), true, Max},
           RealRule{"embedding.backward_ms", B.embedding().backward_ms(), true, Max},
           RealRule{"head.forward_ms", B.head().forward_ms(), true, Max},
           RealRule{"head.backward_ms", B.head().backward_ms(), true, Max},
           RealRule{"optimizer_ms", B.optimizer_ms(), true, Max},
       })
    if (llvm::Error E = check(Src, R))
      return E;
  return llvm::Error::success();
}

/// The model, cluster and profile a plan carries get the checks of their
/// own files: passes re-run on the plan (pfc opt) and pfc-run build on them.
llvm::Error checkPlanInputs(const Source &Src, const proto::Plan &Plan) {
  if (llvm::Error E = checkModel(*Src.nested("model"), Plan.model()))
    return E;
  if (llvm::Error E = checkCluster(*Src.nested("cluster"), Plan.cluster(), &Plan.model()))
    return E;
  if (Plan.options().has_profile())
    return checkProfile(*Src.nested("options")->nested("profile"), Plan.options().profile());
  return llvm::Error::success();
}

llvm::Error checkPlanVersion(const Source &Src, const proto::Plan &Plan) {
  int32_t V = Plan.version();
  if (V == PlanVersion)
    return llvm::Error::success();
  if (V == 0)
    return userError("{}: error: the plan has no version; expected version {} (is this a plan "
                     "written by pfc?)",
                     Src.at("version"), PlanVersion);
  if (V > PlanVersion)
    return userError("{}: error: plan version {} is newer than this pfc, which reads version "
                     "{}; use a newer pfc or recompile the plan",
                     Src.at("version"), V, PlanVersion);
  return userError("{}: error: plan version {} is not valid; this pfc reads version {}",
                   Src.at("version"), V, PlanVersion);
}

} // namespace

llvm::Expected<proto::Model> loadModel(const std::string &NameOrPath) {
  proto::Model M;
  Source Src;
  if (llvm::Error E = readDescription(NameOrPath, M, Src, /*IsModel=*/true))
    return E;
  if (llvm::Error E = checkModel(Src, M))
    return E;
  return M;
}

llvm::Expected<proto::Cluster> loadCluster(const std::string &NameOrPath,
                                           const proto::Model *ForModel) {
  proto::Cluster C;
  Source Src;
  if (llvm::Error E = readDescription(NameOrPath, C, Src, /*IsModel=*/false))
    return E;
  if (llvm::Error E = checkCluster(Src, C, ForModel))
    return E;
  return C;
}

llvm::Expected<Program> loadPlan(const std::string &Path, PlanChecks Checks) {
  llvm::Expected<PlanFormat> Format = planFormatFor(Path);
  if (!Format)
    return Format.takeError();
  auto Buf =
      readFile(Path, "plan", "give a plan written by pfc compile (.pb, .textproto or .json)");
  if (!Buf)
    return Buf.takeError();
  llvm::StringRef Data = (*Buf)->getBuffer();
  Source Src;
  Src.File = Path;
  Src.Root = proto::Plan::descriptor();
  Src.Json = *Format == PlanFormat::Json;
  if (Data.empty())
    return userError("{}: error: the plan file is empty; expected a plan written by pfc compile",
                     Path);
  proto::Plan Plan;
  if (*Format == PlanFormat::Binary) {
    char First = firstNonSpace(Data);
    if (!looksBinary(Data) && (llvm::isAlpha(First) || First == '#' || First == '{'))
      return userError("{}: error: this is a {} plan, not a binary one; name it .{}", Path,
                       First == '{' ? "JSON" : "text", First == '{' ? "json" : "textproto");
    pb::io::CodedInputStream In(reinterpret_cast<const uint8_t *>(Data.data()),
                                static_cast<int>(Data.size()));
    In.SetRecursionLimit(100);
    if (!Plan.ParseFromCodedStream(&In) || !In.ConsumedEntireMessage())
      return userError("{}: error: not a binary pfc plan: the protobuf data is truncated or "
                       "corrupt ({} bytes); write it again with pfc compile -o",
                       Path, Data.size());
  } else {
    if (looksBinary(Data))
      return userError("{}: error: this is a binary plan, not {}; binary plans use the .pb "
                       "extension",
                       Path, Src.formatName());
    // Without field locations: at a million tasks they cost more memory than
    // the plan; an error that needs them parses the text again (below).
    llvm::Error E =
        Src.Json ? parseJson(Data, Src, Plan) : parseText(Data, Src, Plan, /*Locate=*/false);
    if (E) {
      // A plan from a newer pfc may fail on fields this one does not know;
      // say so rather than name the field.
      proto::Plan Lenient;
      bool Parsed;
      if (Src.Json) {
        pb::util::JsonParseOptions Opts;
        Opts.ignore_unknown_fields = true;
        Parsed = pb::util::JsonStringToMessage(std::string(Data), &Lenient, Opts).ok();
      } else {
        FirstError Ignored;
        pb::TextFormat::Parser Parser;
        Parser.RecordErrorsTo(&Ignored);
        Parser.AllowUnknownField(true);
        Parser.AllowUnknownExtension(true);
        Parser.WriteLocationsTo(&Src.Tree);
        Parsed = Parser.ParseFromString(std::string(Data), &Lenient);
      }
      if (Parsed && Lenient.version() > PlanVersion)
        if (llvm::Error V = checkPlanVersion(Src, Lenient)) {
          llvm::consumeError(std::move(E));
          return V;
        }
      return E;
    }
  }
  // Errors below name a field; in a text plan, they point at it.
  auto Locate = [&]() -> const Source & {
    proto::Plan Again;
    if (*Format == PlanFormat::Text)
      llvm::consumeError(parseText(Data, Src, Again, /*Locate=*/true));
    return Src;
  };
  if (Plan.version() != PlanVersion)
    return checkPlanVersion(Locate(), Plan);
  if (llvm::Error E = checkPlanOptions(Src, Plan)) {
    llvm::consumeError(std::move(E));
    return checkPlanOptions(Locate(), Plan);
  }
  if (Checks == PlanChecks::Costs)
    if (llvm::Error E = checkPlanInputs(Src, Plan)) {
      llvm::consumeError(std::move(E));
      return checkPlanInputs(Locate(), Plan);
    }
  llvm::Expected<Program> P = fromPlan(Plan, Path);
  if (P || *Format != PlanFormat::Text)
    return P;
  return locatePlanError(P.takeError(), Locate());
}

llvm::Error checkOutputPath(llvm::StringRef Path, llvm::StringRef Flag) {
  if (Path == "-")
    return llvm::Error::success();
  if (llvm::sys::fs::is_directory(Path))
    return userError("{}: error: {} names a directory; give a file name", Path.str(), Flag.str());
  llvm::SmallString<256> Dir(llvm::sys::path::parent_path(Path));
  if (Dir.empty())
    Dir = ".";
  if (!llvm::sys::fs::exists(Dir))
    return userError("{}: error: cannot write {}: directory '{}' does not exist", Path.str(),
                     Flag.str(), Dir.str().str());
  if (!llvm::sys::fs::is_directory(Dir))
    return userError("{}: error: cannot write {}: '{}' is not a directory", Path.str(), Flag.str(),
                     Dir.str().str());
  if (llvm::sys::fs::access(Dir, llvm::sys::fs::AccessMode::Write))
    return userError("{}: error: cannot write {}: directory '{}' is not writable", Path.str(),
                     Flag.str(), Dir.str().str());
  return llvm::Error::success();
}

std::string formatCommandLineErrors(llvm::StringRef Tool, llvm::StringRef Errors) {
  std::string Out;
  llvm::SmallVector<llvm::StringRef, 4> Lines;
  if (Errors.trim().empty())
    return Out;
  Errors.rtrim().split(Lines, '\n');
  std::string Prefix = Tool.str() + ": ";
  for (llvm::StringRef Line : Lines) {
    if (Line.startswith(Prefix)) {
      llvm::StringRef Rest = Line.drop_front(Prefix.size());
      if (!Rest.startswith("error:") && !Rest.startswith("Did you mean")) {
        Out += Prefix + "error: " + Rest.str() + "\n";
        continue;
      }
    }
    Out += Line.str() + "\n";
  }
  return Out;
}

} // namespace pfc
