"""Many small circuits in one Verilator build, for RTL tests over many random graphs.

A Verilator build costs seconds of fixed compile and link time, so random-graph tests put
K generated circuits side by side in one wrapper module (their in/out buses concatenated)
and build once.  Each circuit keeps its own generated Verilog (module names prefixed), and
its results are checked against qonnx end to end: host prefix (qonnx) -> RTL codes ->
host tail (qonnx), compared with qonnx `execute_onnx` on the original model.
"""
from pathlib import Path

import numpy as np

from qonnx.core.onnx_exec import execute_onnx

from qonnx_c4ml.sim import CircuitSimulator, build_library
from qonnx_c4ml.transformations import GenerateChiselCircuit
from qonnx_c4ml.metadata import circuit_description
from qonnx_c4ml.reference import with_batch
from qonnx_c4ml.transformations.lowering import circuit_boundary


def to_bits(codes, bits):
    """(N, E) integer codes -> (N, E*bits) uint8 bits, element 0's LSB first."""
    codes = np.asarray(codes, dtype=np.int64) & ((1 << bits) - 1)
    return ((codes[:, :, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(codes.shape[0], -1)


def from_bits(bit_matrix, elements, bits, signed):
    weights = (1 << np.arange(bits)).astype(np.int64)
    values = (bit_matrix.reshape(bit_matrix.shape[0], elements, bits).astype(np.int64) * weights).sum(-1)
    if signed:
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return values


def bits_to_words(bit_matrix):
    n, total = bit_matrix.shape
    padded = np.zeros((n, -(-total // 32) * 32), dtype=np.uint8)
    padded[:, :total] = bit_matrix
    return np.packbits(padded, axis=1, bitorder="little").view("<u4").reshape(n, -1)


def words_to_bits(words, total):
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=1, bitorder="little")[:, :total]


class CombinedCircuits:
    """K LBIR models generated under one wrapper top and built once."""

    def __init__(self, lbir_models, work_dir, cache_dir=None):
        work_dir = Path(work_dir)
        self.models, self.descriptions, files = [], [], []
        for i, model in enumerate(lbir_models):
            generated = model.transform(GenerateChiselCircuit(work_dir, pipeline="none", top=f"c{i}_top",
                                                              module_prefix=f"c{i}_", style="parallel"))
            self.models.append(generated)
            description = circuit_description(generated)
            self.descriptions.append(description)
            files += [work_dir / f for f in description.files]
        self.in_bits = sum(d.inp.width for d in self.descriptions)
        self.out_bits = sum(d.out.width for d in self.descriptions)
        wrapper = work_dir / "combined_top.v"
        wrapper.write_text(self._wrapper())
        library = build_library(files + [wrapper], "combined_top", self.in_bits, self.out_bits, cache_dir=cache_dir)
        self.sim = CircuitSimulator(library, self.in_bits, self.out_bits, latency=0)

    def _wrapper(self):
        lines = ["/* verilator lint_off UNUSEDSIGNAL */", "module combined_top (",
                 "  input wire clock, input wire reset, input wire in_valid,",
                 f"  input wire [{self.in_bits - 1}:0] in_data,",
                 "  output wire out_valid,", f"  output wire [{self.out_bits - 1}:0] out_data", ");"]
        in_at = out_at = 0
        for i, d in enumerate(self.descriptions):
            lines.append(f"  wire v{i};")
            lines.append(f"  c{i}_top u{i} (.clock(clock), .reset(reset), .in_valid(in_valid), "
                         f".in_data(in_data[{in_at} +: {d.inp.width}]), .out_valid(v{i}), "
                         f".out_data(out_data[{out_at} +: {d.out.width}]));")
            in_at += d.inp.width
            out_at += d.out.width
        lines += ["  assign out_valid = in_valid;", "endmodule", ""]
        return "\n".join(lines)

    def run_codes(self, codes_per_model):
        """Input codes for every circuit (same N) -> output codes of every circuit."""
        bits = np.concatenate([to_bits(c, d.inp.bits) for c, d in zip(codes_per_model, self.descriptions)], axis=1)
        out = words_to_bits(self.sim.run_packed(bits_to_words(bits)), self.out_bits)
        results, at = [], 0
        for d in self.descriptions:
            results.append(from_bits(out[:, at:at + d.out.width], d.out.elements, d.out.bits, d.out.signed))
            at += d.out.width
        return results


def host_split(lbir_model, x):
    """Run the LBIR graph on `x`: (batched model, full qonnx context, circuit input codes,
    circuit output tensor name, first host tail node or None)."""
    model = with_batch(lbir_model, x.shape[0])
    boundary = circuit_boundary(model)
    context = execute_onnx(model, {model.graph.input[0].name: x}, return_full_exec_context=True)
    codes = context[boundary.input_codes].reshape(x.shape[0], -1).astype(np.int64)
    return model, context, codes, boundary.output_codes, boundary.first_tail_node


def host_tail(model, context, tail, circuit_output, rtl_codes):
    """The model output recomputed by qonnx's host tail nodes from the RTL's output codes."""
    if tail is None:
        return rtl_codes.astype(np.float32)
    feeds = {name: value for name, value in context.items() if value is not None}
    feeds[circuit_output] = rtl_codes.astype(np.float32).reshape(context[circuit_output].shape)
    return execute_onnx(model, feeds, start_node=tail)[model.graph.output[0].name]
