//===- pfc-run.cpp - trains a scaled-down model by following a plan --------===//
#include "RunDriver.h"

int main(int Argc, char **Argv) { return pfc::pfcRunMain(Argc, Argv); }
