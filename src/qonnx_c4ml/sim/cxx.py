"""The C++ half of a circuit build: a verilated model (Verilator's obj dir) -> one shared library.

Where a cold build spent its time with Verilator's own Makefile (2-core machine, g++ 12,
Verilator 5.006, demo 64-64-32-32-10 MLP, one core per file; README, Development, and
benchmarks/build_profile.py):
verilation 1.5 s; the Verilator runtime verilated.o 5.9 s + verilated_threads.o 1.2 s; five
tiny model files and the harness about 1.2 s each, nearly all of it parsing verilated.h; and the
design's combinational logic, one 1.2 MB C++ function, 12.7 s. This module therefore:

1. compiles the runtime (verilated.o, verilated_threads.o) and a precompiled verilated.h per
   optimization level once per machine and Verilator / compiler / flags, keeps them in
   `runtime_dir()` under a key of the exact compile commands, the make variables, the tool
   versions and the runtime sources, and reuses them in every later build;
2. #includes the files below BUNDLE_BYTES into a few bundles (one per optimization level), so
   each bundle is one compiler run;
3. lets make compile the remaining files largest first, one per core.
ccache (OBJCACHE) stays in front of the compiler; with its default settings it does not cache
compiles that use a precompiled header, which only matters for the same C++ built twice in
different design caches (the design cache itself makes a rebuild a lookup).
The big functions themselves are cut by Verilator (`--output-split-cfuncs`, VERILATOR_FLAGS in
verilator.py). Everything here is part of the design cache key through BUILD_SETTINGS.
"""
import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from qonnx_c4ml.sim.errors import BuildError

# Bump when the way objects are produced changes (it is part of every cache key).
RUNTIME_FORMAT = 2  # 2: with precompiled verilated.h
# Files smaller than this are compiled together; a bundle holds up to this many bytes.
BUNDLE_BYTES = 256 * 1024
BUILD_SETTINGS = (f"runtime-format={RUNTIME_FORMAT}", f"bundle-bytes={BUNDLE_BYTES}")
OUTPUT_NAME = "qc4ml_circuit.so"

# Prints what the build needs from Verilator's generated Makefile.
_VARS_MAKEFILE = """include {prefix}.mk
.PHONY: qc4ml-vars
qc4ml-vars:
\t@echo 'fast=$(VM_CLASSES_FAST) $(VM_SUPPORT_FAST)'
\t@echo 'slow=$(VM_CLASSES_SLOW) $(VM_SUPPORT_SLOW)'
\t@echo 'global=$(VM_GLOBAL_FAST) $(VM_GLOBAL_SLOW)'
\t@echo 'user=$(VM_USER_CLASSES)'
\t@echo 'userdir=$(VM_USER_DIR)'
\t@echo 'root=$(VERILATOR_ROOT)'
"""

_BUILD_MAKEFILE = """include {prefix}.mk
QC4ML_OBJS = {objects}
QC4ML_PCH = {pch}
{rules}
{output}: {runtime} $(QC4ML_OBJS)
\t$(LINK) $(LDFLAGS) $(filter %.o,$^) $(LOADLIBES) $(LDLIBS) $(LIBS) -o $@
"""

# Model objects wait for the precompiled headers (order-only) when those are built here too.
_COMPILE_RULE = ("{obj}: {src} | $(QC4ML_PCH)\n"
                 "\t$(OBJCACHE) $(CXX) $(CXXFLAGS) $(CPPFLAGS) $({opt}) -c -o $@ $<\n")
# verilated.h precompiled once per optimization level (parsing it was ~1.1 of the ~1.2 CPU
# seconds of a small file; 0.2 s with the PCH): GCC looks for verilated.h.gch in -I. (the obj
# dir, first on the path) and uses the file in that directory whose options match, or parses
# verilated.h as usual when none does (so a PCH can cost time, never correctness). GCC only
# finds the header again for the nested includes when it sits beside its PCH, hence the
# symlink obj/verilated.h -> the real one.
PCH_DIR = "verilated.h.gch"
_PCH_RULE = (f"{PCH_DIR}/{{name}}.gch:\n\t@mkdir -p {PCH_DIR}\n"
             "\t$(CXX) $(CXXFLAGS) $(CPPFLAGS) $({opt}) -MF qc4ml_pch_{name}.d -x c++-header "
             "$(VERILATOR_ROOT)/include/verilated.h -o $@\n")
# One per optimization level (GCC rejects a PCH built with another -O). Building both costs
# ~7 CPU s once per machine; demo MLP builds after that: 7.8-8.0 CPU s with only the OPT_FAST
# one, 5.9-6.3 s with both.
PCH_FILES = {"fast": "OPT_FAST", "slow": "OPT_SLOW"}


def runtime_dir():
    """`${XDG_CACHE_HOME:-~/.cache}/qonnx_c4ml/verilator-runtime`: the prebuilt runtimes."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qonnx_c4ml" / "verilator-runtime"


@functools.lru_cache(maxsize=None)
def runtime_fingerprint(root):
    """Hash of Verilator's runtime sources and Makefile rules (files of `root`/include)."""
    digest = hashlib.sha256()
    include = Path(root, "include")
    for path in sorted(include.rglob("*")):
        if path.is_file() and path.suffix in (".cpp", ".h", ".mk", ".in", ""):
            digest.update(str(path.relative_to(include)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _query(command, env):
    """stdout of a quick make query (reading Verilator's Makefile, not building)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or ""
        raise BuildError(f"reading Verilator's Makefile failed ({' '.join(command[:6])} ...): "
                         f"{error} {detail.strip()}") from error


def _make_vars(obj_dir, prefix, env, make_args):
    vars_file = obj_dir / "qc4ml_vars.mk"
    vars_file.write_text(_VARS_MAKEFILE.format(prefix=prefix), encoding="utf-8")
    output = _query(["make", "-s", "-C", str(obj_dir), "-f", vars_file.name, *make_args,
                     "qc4ml-vars"], env)
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {name: shlex.split(value) for name, value in values.items()}


def _runtime_key(obj_dir, prefix, env, make_args, objects, identity):
    """Key of the runtime objects and precompiled headers: the objects' exact compile commands
    (from `make -n`), the make variables (compiler, OPT_* levels) and the toolchain identity."""
    commands = _query(["make", "-s", "-B", "-n", "-C", str(obj_dir), "-f", f"{prefix}.mk",
                       *make_args, *objects], env)
    digest = hashlib.sha256()
    for part in (RUNTIME_FORMAT, commands, *make_args, *identity):
        data = str(part).encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _bundle(obj_dir, files, opt, sizes):
    """Split `files` (paths relative to obj_dir, .cpp) into standalone files and bundles."""
    standalone = [name for name in files if sizes[name] >= BUNDLE_BYTES]
    small = sorted((name for name in files if sizes[name] < BUNDLE_BYTES), key=sizes.get,
                   reverse=True)
    groups = []
    for name in small:  # first fit, largest first
        group = next((g for g in groups if g[0] + sizes[name] <= BUNDLE_BYTES), None)
        if group is None:
            group = [0, []]
            groups.append(group)
        group[0] += sizes[name]
        group[1].append(name)
    bundles = []
    for index, (size, members) in enumerate(groups):
        bundle = f"qc4ml_{opt}_{index}.cpp"
        # verilated.h first, so that the precompiled header applies to the whole bundle
        text = '#include "verilated.h"\n' + "".join(f'#include "{member}"\n' for member in members)
        (obj_dir / bundle).write_text("// Bundle of small translation units (qonnx_c4ml)\n" + text,
                                      encoding="utf-8")
        sizes[bundle] = size
        bundles.append(bundle)
    return standalone, bundles


def _model_sources(obj_dir, variables):
    """(fast .cpp files, slow .cpp files) of the model, relative to obj_dir, harness included."""
    fast = [f"{name}.cpp" for name in variables["fast"]]
    slow = [f"{name}.cpp" for name in variables["slow"]]
    user_dirs = [Path(d) for d in variables.get("userdir", [])]
    for name in variables.get("user", []):
        source = next(d / f"{name}.cpp" for d in user_dirs if (d / f"{name}.cpp").is_file())
        fast.append(os.path.relpath(source, obj_dir))
    return fast, slow


def write_build_makefile(obj_dir, prefix, variables, runtime_objects, build_pch):
    """qc4ml.mk: the precompiled headers when `build_pch`, the bundled model objects, then
    the link of OUTPUT_NAME. Returns its name."""
    fast, slow = _model_sources(obj_dir, variables)
    sizes = {name: (obj_dir / name).stat().st_size for name in fast + slow}
    fast_alone, fast_bundles = _bundle(obj_dir, fast, "fast", sizes)
    slow_alone, slow_bundles = _bundle(obj_dir, slow, "slow", sizes)
    sources = sorted(fast_alone + fast_bundles + slow_alone + slow_bundles, key=sizes.get,
                     reverse=True)  # make -j starts them in this order: largest first
    slow_sources = set(slow_alone + slow_bundles)
    objects, rules = [], []
    for source in sources:
        obj = "qc4ml_obj_" + Path(source).stem + ".o"
        objects.append(obj)
        opt = "OPT_SLOW" if source in slow_sources else "OPT_FAST"
        rules.append(_COMPILE_RULE.format(obj=obj, src=source, opt=opt))
    pch = [f"{PCH_DIR}/{name}.gch" for name in PCH_FILES] if build_pch else []
    if build_pch:
        rules += [_PCH_RULE.format(name=name, opt=opt) for name, opt in PCH_FILES.items()]
    makefile = obj_dir / "qc4ml.mk"
    makefile.write_text(_BUILD_MAKEFILE.format(
        prefix=prefix, objects=" ".join(objects), rules="\n".join(rules), pch=" ".join(pch),
        output=OUTPUT_NAME, runtime=" ".join(pch + runtime_objects),
    ), encoding="utf-8")
    return makefile.name


def compile_model(obj_dir, prefix, env, make_args, identity, run, jobs):
    """Compile the verilated model in `obj_dir` into OUTPUT_NAME there; return its path.

    `make_args` are the variable settings for make (CXX, OPT_*, OBJCACHE); `identity` the
    values that identify the toolchain (Verilator and compiler versions, runtime fingerprint);
    `run(command, step)` runs one logged build step. The runtime objects come from
    `runtime_dir()` when they were built before with the same commands and identity, else they
    are built here alongside the model and published there for the next build.
    """
    plain_args = [arg for arg in make_args if not arg.startswith("OBJCACHE=")]
    variables = _make_vars(obj_dir, prefix, env, plain_args)
    runtime = [f"{name}.o" for name in variables["global"]]
    key = _runtime_key(obj_dir, prefix, env, plain_args, runtime, identity)
    entry = runtime_dir() / key
    pch = [f"{PCH_DIR}/{name}.gch" for name in PCH_FILES]
    prebuilt = all((entry / name).is_file() for name in runtime + pch)
    if prebuilt:
        for name in runtime:  # a fresh copy is newer than the Makefile: make leaves it be
            shutil.copyfile(entry / name, obj_dir / name)
        os.symlink(entry / PCH_DIR, obj_dir / PCH_DIR)  # 2 x 60 MB: read in place
    os.symlink(Path(variables["root"][0], "include", "verilated.h"), obj_dir / "verilated.h")
    makefile = write_build_makefile(obj_dir, prefix, variables, runtime, build_pch=not prebuilt)
    run(["make", "-C", str(obj_dir), "-f", makefile, f"-j{jobs}", *make_args, OUTPUT_NAME],
        "C++ build")
    if not prebuilt:
        _publish_runtime(entry, obj_dir, runtime + pch)
    return obj_dir / OUTPUT_NAME


def _publish_runtime(entry, obj_dir, names):
    """Put freshly built runtime files into the shared directory, whole or not at all."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
        for name in names:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(obj_dir / name, staging / name)
        try:
            os.replace(staging, entry)
        except OSError:  # published meanwhile by a concurrent build (same key, same content)
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        pass  # a read-only or full cache costs the next build time, never correctness
