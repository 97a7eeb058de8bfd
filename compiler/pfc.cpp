//===- pfc.cpp - the schedule compiler -------------------------------------===//
#include "Driver.h"

int main(int Argc, char **Argv) { return pfc::pfcMain(Argc, Argv); }
