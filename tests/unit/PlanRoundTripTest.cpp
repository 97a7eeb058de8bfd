//===- PlanRoundTripTest.cpp - the plan's text form round-trips ------------===//
#include "TestUtil.h"

#include "backends/PlanIO.h"
#include "ir/PlanConversion.h"

#include <doctest/doctest.h>

using namespace pfc;
using namespace pfc::test;

TEST_CASE("plan text -> IR -> plan text is the identity, in every format") {
  Program P = uniformProgram(proto::ONE_F_ONE_B, 3, 5);
  runPasses(P, "schedule-1f1b,insert-comm,dp-sync,simulate,memory");
  proto::Plan Plan = toPlan(P);
  for (PlanFormat F : {PlanFormat::Text, PlanFormat::Json, PlanFormat::Binary}) {
    std::string First = serializePlan(Plan, F);
    proto::Plan Parsed;
    if (F == PlanFormat::Text)
      REQUIRE(errorText(parseTextProto(First, "t", Parsed)) == "");
    else if (F == PlanFormat::Json)
      REQUIRE(errorText(parseJsonProto(First, "t", Parsed)) == "");
    else
      REQUIRE(Parsed.ParseFromString(First));
    llvm::Expected<Program> Back = fromPlan(Parsed, "t");
    REQUIRE(static_cast<bool>(Back));
    CHECK(serializePlan(toPlan(*Back), F) == First);
  }
}

TEST_CASE("fromPlan rejects a dangling dependency, naming the field") {
  Program P = uniformProgram(proto::GPIPE, 2, 2);
  runPasses(P, "schedule-gpipe");
  proto::Plan Plan = toPlan(P);
  Plan.mutable_tasks(1)->add_deps(999);
  llvm::Expected<Program> Back = fromPlan(Plan, "bad.textproto");
  REQUIRE_FALSE(static_cast<bool>(Back));
  std::string Msg = llvm::toString(Back.takeError());
  CHECK(Msg == "bad.textproto: error: invalid plan: tasks[1].deps: 999 is not another task's id");
}
