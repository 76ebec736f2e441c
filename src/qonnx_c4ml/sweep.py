"""Parameter sweeps on Dask: models x bit widths x prune rates x pipeline modes.

    qonnx-c4ml sweep CONFIG [-o DIR] [--scheduler tcp://HOST:PORT] [--workers N] [--force]

CONFIG (TOML or JSON) describes the grid::

    bits = [2, 4, 6]                # for synthetic models
    prune = [0.5]                   # fraction of zero weights, for synthetic models
    pipeline = ["none"]             # "none", "layer" or N (a register stage every N operator levels)
    seed = 0                        # weights of synthetic models (default 0)
    max_operators = 500000          # optional, as `compile --max-operators`

    [synth]                         # optional
    enabled = true                  # yosys LUTs/FFs/depth (default true)
    flow = "generic-fast"           # generic-fast | generic | xilinx
    timeout_s = 3600

    [[models]]                      # a synthetic MLP (qonnx_c4ml.models.random_mlp) ...
    name = "jets"
    topology = [16, 64, 32, 32, 5]  # optional per model: bits, prune, seed

    [[models]]                      # ... or a QONNX file (relative to CONFIG): one point per pipeline mode
    path = "jets_w4a4.onnx"

Every grid point is one job, `run_point(point)`, a module-level function of plain data and
paths (no ModelWrapper crosses a process boundary): it builds the synthetic model (or reads
the file), runs InferLBIR + GenerateChiselCircuit into `DIR/points/<point>/` and yosys, and
returns one row (ROW_KEYS); a failure becomes the row's one-line `error`, never the sweep's.
Jobs run on a Dask LocalCluster (worker processes on 127.0.0.1, one thread each) or, with
`--scheduler`, on an existing Dask cluster whose workers can import qonnx_c4ml and see DIR
(e.g. a shared file system). The rows go to `sweep.csv`, `sweep.json` and, through
qonnx_c4ml.report, to `sweep.png`, `sweep.md` and `sweep.html` in DIR.
"""
import json
import logging
import math
import re
import shutil
import sys
import time
import uuid
from pathlib import Path

from qonnx_c4ml.errors import C4mlError

ROW_KEYS = ["model", "bits", "prune", "pipeline", "luts", "ffs", "depth", "latency_cycles", "generate_s",
            "synth_s", "adders", "error"]
CONFIG_KEYS = {"models", "bits", "prune", "pipeline", "seed", "synth", "max_operators"}
MODEL_KEYS = {"name", "topology", "path", "bits", "prune", "seed", "input_type"}
SYNTH_KEYS = {"enabled", "flow", "timeout_s"}
DEFAULT_WORKERS = 2
CONNECT_TIMEOUT_S = 10
TOP = "c4ml_top"
RESULT_FILES = ("sweep.csv", "sweep.json", "sweep.md", "sweep.html", "sweep.png")


# ----------------------------------------------------------------------------- configuration

def _read_config(path):
    path = Path(path)
    if not path.is_file():
        raise C4mlError(f"{path}: no such config file")
    text = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text.decode("utf-8"))
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise C4mlError(f"{path}: the config must be a .toml or .json file")
    except (ValueError, UnicodeDecodeError) as error:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise C4mlError(f"{path}: not valid {kind} ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise C4mlError(f"{path}: the config must be a table/object at the top level")
    return data


def _unknown(keys, known, where, path):
    extra = sorted(set(keys) - known)
    if extra:
        raise C4mlError(f"{path}: unknown key {extra[0]!r} in {where} (known: {', '.join(sorted(known))})")


def _int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _list(value, key, where, path, check, what):
    values = value if isinstance(value, list) else [value]
    if not values:
        raise C4mlError(f"{path}: {where}{key} is empty")
    for item in values:
        if not check(item):
            raise C4mlError(f"{path}: {where}{key} = {item!r} is not {what}")
    return values


def _bits(value, where, path):
    return _list(value, "bits", where, path, lambda b: _int(b) and 1 <= b <= 16, "an integer from 1 to 16")


def _prune(value, where, path):
    return [float(p) for p in _list(value, "prune", where, path,
                                    lambda p: isinstance(p, (int, float)) and not isinstance(p, bool)
                                    and 0 <= p < 1, "a fraction in [0, 1)")]


def _pipelines(value, path):
    from qonnx_c4ml.chisel.generator import check_pipeline

    modes = []
    for item in (value if isinstance(value, list) else [value]):
        try:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise C4mlError("")
            modes.append(check_pipeline(item))
        except C4mlError:
            raise C4mlError(f"{path}: pipeline = {item!r} is not \"none\", \"layer\" or a positive "
                            "number of operator levels") from None
    if not modes:
        raise C4mlError(f"{path}: pipeline is empty")
    return modes


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "model"


def _synth_settings(data, path):
    """The [synth] table checked: {"synth", "flow", "timeout_s"} of every point."""
    synth = data.get("synth", {})
    if not isinstance(synth, dict):
        raise C4mlError(f"{path}: synth must be a table ([synth])")
    _unknown(synth, SYNTH_KEYS, "[synth]", path)
    from qonnx_c4ml.synth import FLOWS

    flow = synth.get("flow", "generic-fast")
    if flow not in FLOWS:
        raise C4mlError(f"{path}: synth.flow = {flow!r} is not one of {', '.join(FLOWS)}")
    enabled = synth.get("enabled", True)
    if not isinstance(enabled, bool):
        raise C4mlError(f"{path}: synth.enabled = {enabled!r} is not true or false")
    timeout_s = synth.get("timeout_s", 3600)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        raise C4mlError(f"{path}: synth.timeout_s = {timeout_s!r} is not a positive number of seconds")
    return {"synth": enabled, "flow": flow, "timeout_s": float(timeout_s)}


def _model_file(k, model, path):
    """(name, resolved file) of models[k] given by a path (relative to the config's directory)."""
    for key in ("bits", "prune", "seed"):
        if key in model:
            raise C4mlError(f"{path}: models[{k}].{key} does not apply to a model file (only to a topology)")
    if not isinstance(model["path"], str) or not model["path"]:
        raise C4mlError(f"{path}: models[{k}].path must be a file name")
    if "input_type" in model:  # a model file without input quantizer (InferLBIR's input_datatype)
        from qonnx_c4ml.transformations.input_type import parse_input_datatype

        try:
            parse_input_datatype(model["input_type"])
        except C4mlError as error:
            raise C4mlError(f"{path}: models[{k}].input_type: {error}") from None
    file = Path(model["path"]).expanduser()
    file = (file if file.is_absolute() else path.resolve().parent / file).resolve()
    return model.get("name", file.stem), file


def _model_topology(k, model, path):
    """(name, topology) of models[k] given as a synthetic MLP."""
    if "input_type" in model:
        raise C4mlError(f"{path}: models[{k}].input_type does not apply to a topology (it has an input "
                        "quantizer), only to a model file")
    topology = model["topology"]
    if not isinstance(topology, list) or len(topology) < 2 or not all(_int(n) and n > 0 for n in topology):
        raise C4mlError(f"{path}: models[{k}].topology = {topology!r} is not a list of at least two "
                        "positive layer widths (input first)")
    return model.get("name", "mlp-" + "-".join(map(str, topology))), topology


def _topology_points(k, model, name, topology, grid, common, path):
    """The points of a synthetic MLP: bits x prune x pipeline (per-model bits/prune/seed first)."""
    where = f"models[{k}]."
    model_seed = model.get("seed", grid["seed"])
    if not _int(model_seed):
        raise C4mlError(f"{path}: models[{k}].seed = {model_seed!r} is not an integer")
    weights = sum(a * b for a, b in zip(topology, topology[1:]))
    return [{**common, "model": name, "topology": list(topology), "bits": b, "prune": p, "seed": model_seed,
             "pipeline": pipeline, "cost": int(weights * b * (1 - p))}
            for b in _bits(model.get("bits", grid["bits"]), where, path)
            for p in _prune(model.get("prune", grid["prune"]), where, path)
            for pipeline in grid["pipelines"]]


def _grid(data, path):
    """The top-level grid keys checked: {"bits", "prune", "pipelines", "seed"} and max_operators."""
    grid = {"bits": _bits(data.get("bits", [4]), "", path), "prune": _prune(data.get("prune", [0.0]), "", path),
            "pipelines": _pipelines(data.get("pipeline", ["none"]), path), "seed": data.get("seed", 0)}
    if not _int(grid["seed"]):
        raise C4mlError(f"{path}: seed = {grid['seed']!r} is not an integer")
    max_operators = data.get("max_operators")
    if max_operators is not None and not (_int(max_operators) and max_operators > 0):
        raise C4mlError(f"{path}: max_operators = {max_operators!r} is not a positive integer")
    return grid, max_operators


def load_config(path):
    """Read and check CONFIG; returns the list of grid points (dicts of plain data).

    Raises C4mlError naming the file and the offending key."""
    path = Path(path)
    data = _read_config(path)
    _unknown(data, CONFIG_KEYS, "the top level", path)
    if "models" not in data:
        raise C4mlError(f"{path}: no models (add a [[models]] table with a topology or a path)")
    models = data["models"]
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
        raise C4mlError(f"{path}: models must be a non-empty list of tables ([[models]])")
    grid, max_operators = _grid(data, path)
    common = {**_synth_settings(data, path), "max_operators": max_operators}
    points, names = [], set()
    for k, model in enumerate(models):
        _unknown(model, MODEL_KEYS, f"models[{k}]", path)
        if ("topology" in model) == ("path" in model):
            raise C4mlError(f"{path}: models[{k}] needs exactly one of topology (a synthetic MLP) or path "
                            "(a QONNX file)")
        name, source = (_model_file if "path" in model else _model_topology)(k, model, path)
        if not isinstance(name, str) or not name:
            raise C4mlError(f"{path}: models[{k}].name must be a non-empty string")
        if name in names:
            raise C4mlError(f"{path}: two models are named {name!r}; give each a distinct name")
        names.add(name)
        if "path" in model:
            points += [{**common, "model": name, "path": str(source), "bits": None, "prune": None,
                        "pipeline": pipeline, "cost": 0, "input_type": model.get("input_type")}
                       for pipeline in grid["pipelines"]]
        else:
            points += _topology_points(k, model, name, source, grid, common, path)
    for index, point in enumerate(points):
        point["index"] = index
        parts = [point["model"]] + ([] if point["bits"] is None else [f"b{point['bits']}", f"p{point['prune']:g}"])
        point["name"] = _slug("_".join(parts + [f"pipe-{point['pipeline']}"]))
    return points


# ----------------------------------------------------------------------------- one grid point (on a worker)

def _one_line(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, C4mlError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text[:300]


def empty_row(point, error=None):
    row = dict.fromkeys(ROW_KEYS)
    row.update(model=point["model"], bits=point["bits"], prune=point["prune"], pipeline=point["pipeline"],
               error=error)
    return row


def run_point(point, output_dir):
    """One sweep job: model -> InferLBIR -> GenerateChiselCircuit (-> yosys) in `output_dir`.

    `point` is a dict from load_config (plain data; a model file is a path). Returns a row
    (ROW_KEYS); any failure is caught and returned as the row's one-line `error`."""
    row = empty_row(point)
    stage = ["model"]
    try:
        from qonnx_c4ml import flow
        from qonnx_c4ml.transformations.generate_circuit import DEFAULT_MAX_OPERATORS

        output_dir = Path(output_dir)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        output_dir.mkdir(parents=True)
        model = point.get("path")
        if not model:
            from qonnx_c4ml.models import random_mlp

            model = random_mlp(point["topology"], point["bits"], point["prune"], point["seed"])
            model.save(str(output_dir / "model.onnx"))
        result = flow.compile(model, output_dir / "verilog", pipeline=point["pipeline"], top=TOP,
                              max_operators=point.get("max_operators") or DEFAULT_MAX_OPERATORS,
                              input_datatype=point.get("input_type"), outputs=False,
                              on_stage=lambda name: stage.__setitem__(0, name))
        row.update(generate_s=result.report["generate_s"], latency_cycles=result.description.latency_cycles,
                   adders=result.adders)
        if point.get("synth", True):
            stage[0] = "synthesis"
            synthesis = flow.synthesize(result, flow=point.get("flow", "generic-fast"),
                                        timeout_s=point.get("timeout_s", 3600))
            row.update(luts=synthesis.luts, ffs=synthesis.ffs, depth=synthesis.depth,
                       synth_s=round(synthesis.seconds, 2))
    except Exception as error:  # noqa: BLE001 - a failing point is a row, not the end of the sweep
        row["error"] = f"{stage[0]}: {_one_line(error)}"
    try:
        (Path(output_dir) / "row.json").write_text(json.dumps(row, indent=2) + "\n")
    except OSError:
        pass
    return row


# ----------------------------------------------------------------------------- the sweep (client side)

def _prepare_output(output_dir, clean):
    """Create `output_dir`; with `clean`, remove what an earlier sweep wrote (nothing else)."""
    output_dir = Path(output_dir)
    if clean:
        shutil.rmtree(output_dir / "points", ignore_errors=True)
        for name in RESULT_FILES:
            (output_dir / name).unlink(missing_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir


def _client(scheduler, workers, connect_timeout):
    """(Client, LocalCluster or None)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise C4mlError("sweep needs Dask distributed: pip install 'qonnx-c4ml[sweep]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except ValueError as error:
            raise C4mlError(f"--scheduler {scheduler}: not a Dask scheduler address ({_one_line(error)}); "
                            "use tcp://HOST:PORT") from None
        except (OSError, TimeoutError) as error:
            raise C4mlError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout:g} s "
                            f"({_one_line(error)}); start one with `dask scheduler` and workers with "
                            "`dask worker ADDRESS`, or leave out --scheduler for a local cluster") from None
        try:
            client.wait_for_workers(1, timeout=connect_timeout)
        except (OSError, TimeoutError):
            client.close()
            raise C4mlError(f"the Dask scheduler at {scheduler} has no workers (waited {connect_timeout:g} s); "
                            "start some with `dask worker ADDRESS --nthreads 1`") from None
        return client, None
    if workers < 1:
        raise C4mlError(f"--workers {workers}: need at least one worker")
    # No dashboard; the scheduler's remaining HTTP routes (health, metrics) on a free port of
    # 127.0.0.1 instead of the default 8787 (which a second sweep would collide with).
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           scheduler_port=0, dashboard_address=None, silence_logs=logging.ERROR,
                           scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
    return Client(cluster), cluster


def run_sweep(config, output_dir, scheduler=None, workers=None, force=False, progress=None,
              connect_timeout=CONNECT_TIMEOUT_S):
    """Run the grid of `config` on Dask and write the results into `output_dir`; returns the rows
    in grid order. `progress`: show a tqdm bar (default: when stderr is a terminal)."""
    points = load_config(config)
    from qonnx_c4ml.output_dir import check_output_dir

    clean = check_output_dir(output_dir, force, replaces="the sweep files in it")[1]
    if progress is None:
        progress = sys.stderr.isatty()
    client, cluster = _client(scheduler, DEFAULT_WORKERS if workers is None else workers, connect_timeout)
    rows = [None] * len(points)
    futures = {}
    try:
        output_dir = _prepare_output(output_dir, clean).resolve()
        from dask.distributed import as_completed

        tag = uuid.uuid4().hex[:8]
        for point in points:
            future = client.submit(run_point, point, str(output_dir / "points" / point["name"]),
                                   key=f"sweep-{point['name']}-{tag}", pure=False, priority=point["cost"])
            futures[future.key] = (future, point)
        done = as_completed([f for f, _ in futures.values()])
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(points), desc="sweep", unit="point", file=sys.stderr)
        for future in done:
            point = futures[future.key][1]
            try:
                rows[point["index"]] = future.result()
            except Exception as error:  # noqa: BLE001 - e.g. a worker died or cannot import the package
                rows[point["index"]] = empty_row(point, f"worker: {_one_line(error)}")
    finally:
        for future, _ in futures.values():
            future.cancel()
        client.close()
        if cluster is not None:
            cluster.close()
    write_results(output_dir, rows)
    return rows


def write_results(output_dir, rows):
    """sweep.json, then sweep.csv/.png/.md/.html via qonnx_c4ml.report."""
    output_dir = Path(output_dir)
    (output_dir / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    from qonnx_c4ml.report import write_sweep_report

    return write_sweep_report(output_dir, rows)


def _cell(key, value):
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if key == "generate_s":
        return f"{value:.3f}"
    if key == "synth_s":
        return f"{value:.1f}"
    if key == "prune":
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if key in ("luts", "ffs", "adders") else str(value)
    return str(value)


def format_table(rows):
    """The rows as an aligned text table (numbers right-aligned, errors last)."""
    from qonnx_c4ml.tables import text_lines

    keys = [k for k in ROW_KEYS if k != "error"]
    heads = {"latency_cycles": "latency", "generate_s": "gen [s]", "synth_s": "synth [s]"}
    table = [[heads.get(k, k) for k in keys]] + [[_cell(k, row.get(k)) for k in keys] for row in rows]
    header, *lines = text_lines(table, left={keys.index("model"), keys.index("pipeline")})
    lines = [(line + f"  error: {row['error']}").rstrip() if row.get("error") else line
             for line, row in zip(lines, rows)]
    return "\n".join([header, "-" * len(header)] + lines)


def cmd_sweep(args):
    """`qonnx-c4ml sweep` (see cli.py)."""
    start = time.perf_counter()
    output = args.output or Path(args.config).with_suffix("").name + "_sweep"
    rows = run_sweep(args.config, output, scheduler=args.scheduler, workers=args.workers, force=args.force)
    print(format_table(rows))
    failed = sum(1 for row in rows if row.get("error"))
    print(f"{len(rows)} points, {failed} failed, {time.perf_counter() - start:.1f} s; wrote sweep.csv, sweep.json, "
          f"sweep.png, sweep.md and sweep.html to {output}")
    return 1 if failed else 0  # like `verify`: 1 = ran, but not everything succeeded
