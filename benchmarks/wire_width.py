"""Experiment: how fast Verilator runs the jets circuit when every wire has one width.

    python benchmarks/wire_width.py [--samples 100000] [--repeats 5] [--synth]

chisel/logic/verilog.py writes each wire at its exact width (`wire signed [8:0] a = $signed(x) +
$signed(y);`), so Verilator's C++ masks every result and sign-extends every operand
(VL_EXTENDS_II: 3,478 of them in the jets model's 1,226 assignments). This file writes the same
netlists with every wire and register `signed [31:0]` (operands sign-extended once, where they
are made; output ports keep their widths), builds both into Verilator models, checks them equal
on `--samples` random input codes, and prints the CPU time of the model alone, one thread, and
with `--synth` yosys generic-fast LUTs of both. The uniform writer lives here, not in the
generator: it is a measurement for issue 12, and the Verilog a user gets is unchanged.
Measured (2-core machine, loaded): 2.04x (101.1 -> 49.7 ms CPU for 50,000 codes), outputs
equal; tests/chisel/test_logic_rtl_agreement.py passes with this writer patched in; but yosys
generic-fast does not narrow the wide cells back: 38,906 -> 57,555 LUTs, depth 48 -> 61. So the
product writer cannot simply switch; a simulation-only view would not be "the emitted Verilog".
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
JETS = ROOT / "tests" / "fixtures" / "jets_w4a4_po2.onnx"
WIDTH = 32


def uniform_writer(verilog):
    """Replace operand/expression/node_line of the chisel.logic.verilog module `verilog` by the
    one-width variant (every node's range must fit WIDTH bits)."""
    def literal(value):
        return f"{WIDTH}'h{value % (1 << WIDTH):x}"

    def operand(value, width):
        return f"$signed({literal(value.lo)})" if value.is_constant else f"$signed({value.name})"

    def expression(node):
        op, args = node.op, node.args
        if op == "input":
            bus, offset, _ = node.params
            field = f"{bus}[{offset} +: {node.width}]"
            return f"$signed({field})" if node.signed else field
        if op in ("add", "sub"):
            return f"{operand(args[0], WIDTH)} {'+' if op == 'add' else '-'} {operand(args[1], WIDTH)}"
        if op == "neg":
            return f"-{operand(args[0], WIDTH)}"
        if op in ("shl", "shr"):
            return f"{operand(args[0], WIDTH)} {'<<<' if op == 'shl' else '>>>'} {node.params[0]}"
        if op == "ge":
            return f"{{{WIDTH - 1}'b0, ~{args[0].name}[{WIDTH - 1}]}}"
        if op == "eq":
            bits, pattern = node.params
            return f"{{{WIDTH - 1}'b0, {args[0].name}[{bits - 1}:0] == {verilog.literal(pattern, bits)}}}"
        if op == "mux":
            select, if_one, if_zero = args
            return f"{select.name}[0] ? {operand(if_one, WIDTH)} : {operand(if_zero, WIDTH)}"
        if op == "max":
            diff, a, b = args
            return f"{diff.name}[{WIDTH - 1}] ? {operand(b, WIDTH)} : {operand(a, WIDTH)}"
        raise ValueError(f"no Verilog for operation {op!r} ({node.name})")

    def node_line(node):
        if node.op == "comment":
            return f"  // {node.text}"
        if node.width > WIDTH:
            raise ValueError(f"{node.name}: {node.width} bits do not fit {WIDTH}")
        if node.op == "reg":
            return f"  reg signed [{WIDTH - 1}:0] {node.name};"
        if node.op == "out":
            bus, offset, bits, _ = node.params
            source = node.args[0]
            value = verilog.literal(source.lo, bits) if source.is_constant else f"{source.name}[{bits - 1}:0]"
            return f"  assign {bus}[{offset} +: {bits}] = {value};"
        return f"  wire signed [{WIDTH - 1}:0] {node.name} = {expression(node)};"

    verilog.operand, verilog.expression, verilog.node_line = operand, expression, node_line


def cpu_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main(argv=None):
    import qonnx_c4ml.chisel.logic.verilog as verilog
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.sim import CircuitSimulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--synth", action="store_true", help="also yosys generic-fast LUTs (minutes)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wire_width_"))
    circuits, builds = {}, {}
    for name in ("as emitted", f"every wire {WIDTH} bits"):
        if name != "as emitted":
            uniform_writer(verilog)
        start = time.perf_counter()
        circuits[name] = Circuit(JETS, output_dir=work / name.replace(" ", "_"), cache_dir=work / "cache")
        builds[name] = time.perf_counter() - start
    desc = circuits["as emitted"].description
    codes = np.random.default_rng(0).integers(-(1 << (desc.inp.bits - 1)), 1 << (desc.inp.bits - 1),
                                              size=(args.samples, desc.inp.elements))
    outputs, rows = {}, []
    for name, circuit in circuits.items():
        with CircuitSimulator(circuit.op.get_nodeattr("library"), desc.inp.width, desc.out.width,
                              desc.latency_cycles, threads=1) as sim:
            run = lambda: sim.run_codes(codes, desc.inp.bits, desc.inp.signed, desc.out.elements,  # noqa: E731
                                        desc.out.bits, desc.out.signed)
            outputs[name] = run()
            rows.append((name, cpu_time(run, args.repeats)))
    same = all(np.array_equal(out, outputs["as emitted"]) for out in outputs.values())
    print(f"jets w4a4, {args.samples:,} random codes, Verilator model alone, 1 thread, median CPU of {args.repeats}")
    for name, seconds in rows:
        print(f"  {name:22} {seconds * 1e3:8.1f} ms CPU  {args.samples / seconds:12,.0f} samples/s per core  "
              f"(generate + build {builds[name]:.1f} s)")
    print(f"  speed-up {rows[0][1] / rows[1][1]:.2f}x; outputs equal: {same}")
    if args.synth:
        from qonnx_c4ml.synth.yosys import synthesize

        for name, circuit in circuits.items():
            files = sorted(path for path in Path(circuit.verilog_dir).glob("*.v") if "registered" not in path.name)
            report = synthesize(files, "c4ml_top", "generic-fast")
            print(f"  yosys generic-fast, {name}: {report.luts} LUTs, depth {report.depth}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
