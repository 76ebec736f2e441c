"""The C++ half of a circuit build: a verilated model (Verilator's obj dir) -> one shared library.

Where a cold build spent its time with Verilator's own Makefile (2-core machine, g++ 12,
Verilator 5.006, demo 64-64-32-32-10 MLP, one core per file, see README "Build profile"):
verilation 1.5 s; the Verilator runtime verilated.o 5.9 s + verilated_threads.o 1.2 s; five
tiny model files and the harness about 1.2 s each, nearly all of it parsing verilated.h; and the
design's combinational logic, one 1.2 MB C++ function, 12.7 s. This module therefore:

1. compiles the runtime (verilated.o, verilated_threads.o) once per machine and Verilator /
   compiler / flags, keeps it in `runtime_dir()` under a key of the exact compile commands,
   the tool versions and the runtime sources, and copies it into every later build;
2. #includes the files below BUNDLE_BYTES into a few bundles (one per optimization level), so
   verilated.h is parsed once per bundle rather than once per file;
3. lets make compile the remaining files largest first, one per core.
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
RUNTIME_FORMAT = 1
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
"""

_BUILD_MAKEFILE = """include {prefix}.mk
QC4ML_OBJS = {objects}
{rules}
{output}: {runtime} $(QC4ML_OBJS)
\t$(LINK) $(LDFLAGS) $^ $(LOADLIBES) $(LDLIBS) $(LIBS) -o $@
"""

_COMPILE_RULE = "{obj}: {src}\n\t$(OBJCACHE) $(CXX) $(CXXFLAGS) $(CPPFLAGS) $({opt}) -c -o $@ $<\n"


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
    """Key of the runtime objects: their exact compile commands (from `make -n`) + identity."""
    commands = _query(["make", "-s", "-B", "-n", "-C", str(obj_dir), "-f", f"{prefix}.mk",
                       *make_args, *objects], env)
    digest = hashlib.sha256()
    for part in (RUNTIME_FORMAT, commands, *identity):
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
        text = "".join(f'#include "{member}"\n' for member in members)
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


def write_build_makefile(obj_dir, prefix, variables, runtime_objects):
    """qc4ml.mk: the bundled model objects, then the link of OUTPUT_NAME. Returns its name."""
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
    makefile = obj_dir / "qc4ml.mk"
    makefile.write_text(_BUILD_MAKEFILE.format(
        prefix=prefix, objects=" ".join(objects), rules="\n".join(rules),
        output=OUTPUT_NAME, runtime=" ".join(runtime_objects),
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
    prebuilt = all((entry / name).is_file() for name in runtime)
    if prebuilt:
        for name in runtime:  # a fresh copy is newer than the Makefile: make leaves it be
            shutil.copyfile(entry / name, obj_dir / name)
    makefile = write_build_makefile(obj_dir, prefix, variables, runtime)
    run(["make", "-C", str(obj_dir), "-f", makefile, f"-j{jobs}", *make_args, OUTPUT_NAME],
        "C++ build")
    if not prebuilt:
        _publish_runtime(entry, [obj_dir / name for name in runtime])
    return obj_dir / OUTPUT_NAME


def _publish_runtime(entry, objects):
    """Put freshly built runtime objects into the shared directory, whole or not at all."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
        for path in objects:
            shutil.copyfile(path, staging / path.name)
        try:
            os.replace(staging, entry)
        except OSError:  # published meanwhile by a concurrent build (same key, same content)
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        pass  # a read-only or full cache costs the next build time, never correctness
