"""Baselines for benchmarks/circuit_quality.py: the naive `w*x` Verilog, da4ml's and alkaid's
Verilog of the same QDense nodes, our top interface (optionally registered) around them, and
the Verilator check that each equals the LBIR reference.

da4ml (0.6.0) and alkaid (0.8.x, da4ml's successor) share one tracing code path here: the
constant matrix-vector product traced through the library (its CMVM solver turns it into an
adder graph), requantization in the library's own ops (evenly spaced power-of-two thresholds
as shift + floor + saturate, any other row as a comparator count), Verilog from its
comb_logic_gen plus the static modules that Verilog instantiates. Their APIs differ only in
names (DAIS, below).
"""
import math
import re
from pathlib import Path

import numpy as np

TOP = "c4ml_top"

class Layer:
    """What the baselines need from one QDense node."""

    def __init__(self, op):
        from qonnx_c4ml.chisel.generator import port_for_dtype
        from qonnx_c4ml.lbir.dtypes import datatype_range

        self.weights = op.weight_codes()
        self.thresholds = op.threshold_codes()
        self.requant = op.get_nodeattr("requant")
        self.out_base = int(op.get_nodeattr("out_base"))
        self.in_range = datatype_range(op.get_nodeattr("in_dtype"))
        n_out, n_in = self.weights.shape
        self.inp = port_for_dtype(n_in, op.get_nodeattr("in_dtype"))
        self.out = port_for_dtype(n_out, op.get_nodeattr("out_dtype"))

    def forward(self, codes):
        from qonnx_c4ml.lbir.dense import dense_forward

        return dense_forward(codes, self.weights, self.requant, self.thresholds, self.out_base)


def lbir_layers(model):
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.lbir.graph import lbir_chain

    return [Layer(getCustomOp(node)) for node in lbir_chain(model)]


def top_ports(inp, out, latency=0):
    """Our top's ports; out_valid is in_valid delayed by `latency` clock cycles."""
    lines = [
        f"module {TOP} (",
        "  input wire clock,",
        "  input wire reset,",
        "  input wire in_valid,",
        f"  input wire [{inp.width - 1}:0] in_data,",
        "  output wire out_valid,",
        f"  output wire [{out.width - 1}:0] out_data",
        ");",
    ]
    if latency == 0:
        return lines + ["  assign out_valid = in_valid;"]
    return lines + [
        f"  reg [{latency - 1}:0] valid_q;",
        (f"  always @(posedge clock) valid_q <= reset ? {latency}'d0 : {{valid_q[{latency - 2}:0], in_valid}};"
         if latency > 1 else "  always @(posedge clock) valid_q <= reset ? 1'b0 : in_valid;"),
        f"  assign out_valid = valid_q[{latency - 1}];",
    ]


# ----------------------------------------------------------------------------- naive baseline

def _sconst(value):
    return f"-32'sd{-value}" if value < 0 else f"32'sd{value}"


def naive_verilog(layers):
    """One combinational module: `*` per non-zero weight, comparator-count requantization."""
    lines = ["/* verilator lint_off UNUSEDSIGNAL */", "/* verilator lint_off WIDTH */",
             *top_ports(layers[0].inp, layers[-1].out)]
    data = "in_data"
    for i, layer in enumerate(layers):
        port = layer.inp
        for k in range(port.elements):
            field = f"{data}[{k * port.bits} +: {port.bits}]"
            if port.signed:
                lines.append(f"  wire signed [{port.bits - 1}:0] l{i}_x{k} = {field};")
            else:
                lines.append(f"  wire signed [{port.bits}:0] l{i}_x{k} = {{1'b0, {field}}};")
        out_name = f"l{i}_out"
        lines.append(f"  wire [{layer.out.width - 1}:0] {out_name};")
        for m, row in enumerate(layer.weights):
            terms = [f"{_sconst(int(w))} * l{i}_x{k}" for k, w in enumerate(row) if w]
            lines.append(f"  wire signed [31:0] l{i}_acc{m} = {' + '.join(terms) or _sconst(0)};")
            if layer.requant == "thresholds":
                compares = []
                for t in layer.thresholds[m]:
                    t = int(t)
                    if t <= -(1 << 31):
                        compares.append("1'b1")
                    elif t >= (1 << 31):
                        compares.append("1'b0")
                    else:
                        compares.append(f"(l{i}_acc{m} >= {_sconst(t)})")
                base = layer.out_base & 0xFFFFFFFF
                lines.append(f"  wire [31:0] l{i}_q{m} = 32'd{base}" + "".join(f" + {c}" for c in compares) + ";")
                value = f"l{i}_q{m}"
            else:
                value = f"l{i}_acc{m}"
            lines.append(f"  assign {out_name}[{m * layer.out.bits} +: {layer.out.bits}] = "
                         f"{value}[{layer.out.bits - 1}:0];")
        data = out_name
    lines += [f"  assign out_data = {data};", "endmodule", ""]
    return "\n".join(lines)


def write_naive(layers, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{TOP}.v"
    path.write_text(naive_verilog(layers))
    return [path]


# ----------------------------------------------------------------------------- da4ml / alkaid

class Dais:
    """da4ml or alkaid: the names one library gives the few API pieces used here."""

    def __init__(self, name):
        import importlib

        self.name = name
        self.module = importlib.import_module(name)
        self.version = getattr(self.module, "__version__", "?")
        self.comb_logic_gen = importlib.import_module(f"{name}.codegen.rtl.verilog").comb_logic_gen
        self.quantize = importlib.import_module(f"{name}.trace.ops").quantize
        trace = importlib.import_module(f"{name}.trace")
        if name == "da4ml":
            from da4ml.types import minimal_kif

            self.array, self.trace, self.kif = trace.FixedVariableArray, trace.comb_trace, minimal_kif
        elif name == "alkaid":
            self.array, self.trace, self.kif = trace.FVArray, trace.trace, (lambda q: tuple(q.kif))
        else:
            raise ValueError(f"unknown library {name!r}")
        self.to_pipeline = trace.to_pipeline if hasattr(trace, "to_pipeline") else None

    @property
    def source_dir(self):
        return Path(self.module.__file__).parent / "codegen" / "rtl" / "verilog" / "source"


def dais_available(name):
    """None if `name` (da4ml or alkaid) imports with the API used here, else why not."""
    try:
        Dais(name)
    except Exception as error:  # ImportError, or a broken install
        return f"{type(error).__name__}: {error}"
    return None


def _even_po2_spacing(row, n_codes):
    """log2 of the spacing when `row` holds n_codes-1 thresholds 2**s apart, n_codes a power of 2."""
    if len(row) < 1 or len(row) + 1 != n_codes or n_codes & (n_codes - 1):
        return None
    steps = np.diff(row)
    if len(row) == 1:
        return 0
    step = int(steps[0])
    if step <= 0 or step & (step - 1) or np.any(steps != step):
        return None
    return step.bit_length() - 1


def dais_trace(lib, layers):
    """Trace the network through `lib` (a Dais); returns (CombLogic, rows with native requant, all rows)."""
    lo, hi = layers[0].in_range
    n_in = layers[0].weights.shape[1]
    inp = lib.array.from_lhs(np.full(n_in, lo), np.full(n_in, hi), np.ones(n_in))
    x, native, rows = inp, 0, 0
    for layer in layers:
        acc = x @ layer.weights.T.astype(np.float64)
        if layer.requant == "none":
            x = acc
            continue
        outs = []
        for m, row in enumerate(layer.thresholds):
            rows += 1
            row = [int(t) for t in row]
            a = acc[m]
            s = _even_po2_spacing(row, len(row) + 1)
            if s is not None:
                # out_base + clip(floor((acc - T0) / 2**s) + 1, 0, 2**a - 1)
                native += 1
                bits = int(math.log2(len(row) + 1))
                q = lib.quantize((a + float((1 << s) - row[0])) * float(2.0 ** -s), 0, bits, 0, "SAT", "TRN")
            else:
                q = 0
                for t in row:
                    q = q + (a >= float(t))
            if layer.out_base:
                q = q + float(layer.out_base)
            outs.append(q)
        x = lib.array(np.array(outs, dtype=object), inp.solver_options, hwconf=inp.hwconf)
    return lib.trace(inp, x), native, rows


def dais_wrapper(lib, comb, inp, out, core="d4_core", latency=0):
    """Our top interface around the library's `<core> (model_inp, model_out)`, or around
    its pipelined `<core> (clk, model_inp, model_out)` of `latency` cycles."""
    lines = ["/* verilator lint_off UNUSEDSIGNAL */", "/* verilator lint_off WIDTH */",
             *top_ports(inp, out, latency)]
    in_kifs = [lib.kif(q) for q in comb.inp_qint]
    out_kifs = [lib.kif(q) for q in comb.out_qint]
    in_width, out_width = sum(map(sum, in_kifs)), sum(map(sum, out_kifs))
    lines += [f"  wire [{max(in_width, 1) - 1}:0] model_inp;", f"  wire [{max(out_width, 1) - 1}:0] model_out;"]
    offset = 0
    for k, (sign, integers, fractional) in enumerate(in_kifs):
        width = int(sign) + integers + fractional
        if width == 0:
            continue
        if fractional != 0 or width > inp.bits:
            raise ValueError(f"{lib.name} input {k} has precision {in_kifs[k]}, not an integer of <= {inp.bits} bits")
        lines.append(f"  assign model_inp[{offset + width - 1}:{offset}] = in_data[{k * inp.bits} +: {width}];")
        offset += width
    offset = 0
    for m, (sign, integers, fractional) in enumerate(out_kifs):
        width = int(sign) + integers + fractional
        target = f"out_data[{m * out.bits} +: {out.bits}]"
        if width == 0:
            lines.append(f"  assign {target} = {out.bits}'d0;")
            continue
        if fractional > 0:
            raise ValueError(f"{lib.name} output {m} has fractional bits ({out_kifs[m]})")
        raw = f"model_out[{offset + width - 1}:{offset}]"
        value = f"$signed({raw})" if sign else f"$signed({{1'b0, {raw}}})"
        lines.append(f"  wire signed [31:0] o{m} = {value};")
        lines.append(f"  assign {target} = (o{m} <<< {-fractional});")
        offset += width
    clock = ".clk(clock), " if latency else ""
    lines += [f"  {core} u_core ({clock}.model_inp(model_inp), .model_out(model_out));", "endmodule", ""]
    return "\n".join(lines)


def write_dais(name, layers, out_dir, latency_cutoff=None):
    """Trace + generate `name`'s (da4ml or alkaid) Verilog into out_dir; returns (files, info).

    With `latency_cutoff` (da4ml only), da4ml's own pipelining: to_pipeline() cuts the adder
    graph into stages of at most that much estimated delay, pipeline_logic_gen registers the
    input of every stage and the output (stages + 1 cycles of latency)."""
    lib = Dais(name)
    comb, native, rows = dais_trace(lib, layers)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = out_dir / f"{TOP}.v"
    latency, info = 0, {}
    if latency_cutoff is None:
        modules = {"d4_core": lib.comb_logic_gen(comb, "d4_core")}
    else:
        from da4ml.codegen.rtl.verilog.pipeline import pipeline_logic_gen

        if name != "da4ml":
            raise ValueError(f"pipelined Verilog is generated for da4ml only, not {name}")
        pipe = lib.to_pipeline(comb, latency_cutoff, verbose=False)
        modules = pipeline_logic_gen(pipe, "d4_core", timescale=None)
        latency = len(pipe.solutions) + 1
        info = {"stages": len(pipe.solutions), "latency_cutoff": latency_cutoff}
    files = []
    if name == "alkaid":  # its binary-LUT groups become table_<hash> case modules
        from alkaid.codegen.rtl.verilog.lookup import lookup_source

        tables = lookup_source([comb])
        if tables:
            modules["lookup_tables"] = tables
            info["lookup_tables"] = tables.count("endmodule")
    for module, text in modules.items():
        (out_dir / f"{module}.v").write_text(text)
        files.append(out_dir / f"{module}.v")
    wrapper.write_text(dais_wrapper(lib, comb, layers[0].inp, layers[-1].out, latency=latency))
    files.append(wrapper)
    core_text = "\n".join(modules.values())
    for source in sorted(lib.source_dir.glob("*.v")):
        if not re.search(rf"\b{source.stem}\b", core_text):  # e.g. lookup_table.v ($readmemh)
            continue
        # Older Verilator (5.006) rejects the lint codes WIDTHTRUNC/WIDTHEXPAND (5.008+) in
        # the libraries' lint comments; WIDTH covers both. Only comments change.
        text = re.sub(r"(lint_(?:off|on)\s+)WIDTH(?:TRUNC|EXPAND)", r"\1WIDTH", source.read_text())
        (out_dir / source.name).write_text(text)
        files.append(out_dir / source.name)
    cost = comb.cost() if callable(comb.cost) else comb.cost
    return files, {"native_requant_rows": native, "requant_rows": rows, "lib_cost": float(cost),
                   "lib_version": lib.version, "latency": latency, **info}


def registered_top(inp, out, out_dir):
    """`c4ml_top_registered` around any `c4ml_top` (our generator's wrapper, same ports)."""
    from qonnx_c4ml.chisel.generator import registered_wrapper

    path = out_dir / f"{TOP}_registered.v"
    path.write_text(registered_wrapper(TOP, inp, out, 0))
    return path


# ----------------------------------------------------------------------------- simulation

def simulate(files, layers, codes, cache_dir, latency=0):
    from qonnx_c4ml.sim import CircuitSimulator, build_library, pack_codes, unpack_codes

    inp, out = layers[0].inp, layers[-1].out
    library = build_library(files, TOP, inp.width, out.width, cache_dir=cache_dir)
    simulator = CircuitSimulator(library, inp.width, out.width, latency=latency)
    try:
        words = simulator.run_packed(pack_codes(codes, inp.bits, inp.signed))
    finally:
        simulator.close()
    return unpack_codes(words, out.elements, out.bits, out.signed)


def reference(layers, codes):
    x = codes
    for layer in layers:
        x = layer.forward(x)
    return x


def check_equal(name, got, expected):
    if got.shape != expected.shape or not np.array_equal(got, expected):
        bad = np.argwhere(got != expected) if got.shape == expected.shape else None
        where = f"; first mismatch at sample/output {tuple(bad[0])}: {got[tuple(bad[0])]} != " \
                f"{expected[tuple(bad[0])]} ({len(bad)} elements differ)" if bad is not None and len(bad) else ""
        raise SystemExit(f"FAIL: {name} differs from our circuit / the LBIR reference{where}")
