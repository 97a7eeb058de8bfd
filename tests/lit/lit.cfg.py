# lit configuration for pfc's golden tests: every .test file runs its RUN
# lines with pfc, pfc-dump, FileCheck and not on the PATH.
import os
import lit.formats

config.name = "pfc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.path.dirname(config.pfc_tools_dir), "tests", "lit-out")
config.excludes = ["Inputs"]

tools = [config.pfc_tools_dir, os.path.dirname(config.filecheck), config.pfc_bench_dir]
config.environment["PATH"] = os.pathsep.join(tools + [config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%examples", os.path.join(config.pfc_source_dir, "examples")))
config.substitutions.append(("%profiles", os.path.join(config.pfc_shared_dir, "profiles", "pipefisher")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%testtools", os.path.join(config.pfc_source_dir, "tests", "tools")))
config.substitutions.append(("%pfcbin", config.pfc_tools_dir))
if os.path.isdir(os.path.join(config.pfc_shared_dir, "profiles")):
    config.available_features.add("profiles")
