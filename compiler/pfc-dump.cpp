//===- pfc-dump.cpp - views of a plan --------------------------------------===//
#include "Driver.h"

int main(int Argc, char **Argv) { return pfc::pfcDumpMain(Argc, Argv); }
