"""A hand-off directory for hardware engineers: Verilog, a self-checking testbench, vectors.

    package(circuit, "pkg", vectors=100)        # or circuit.package("pkg"), qonnx-c4ml package

writes into `pkg`:
- the circuit's Verilog (`description.files`, top module last) and the `<top>_registered` wrapper,
- `tb_<top>.v`: a self-checking testbench (plain Verilog-2005 plus `$fatal`) that reads
  `<top>_inputs.hex` / `<top>_expected.hex` with `$readmemh`, streams the inputs one per cycle
  (with idle cycles where in_valid is low), checks every output against the expected vector and
  that it arrives exactly `latency_cycles` cycles after its input, prints `PASS: ...` or
  `FAIL: ...` with the mismatch count and ends with `$fatal(1, ...)` on failure (non-zero exit
  status in Icarus and Verilator),
- the vector files: random input codes over the input port's range (plus the all-minimum /
  all-maximum / all-zero corners) or the caller's codes, and the expected output codes computed
  by the circuit itself (`run_codes`, the Verilator model, which `verify` checks against qonnx),
- `report.json` (copied when the circuit was compiled by `qonnx-c4ml compile`, else the circuit
  description), `report.html` when there is one, `vivado_synth.tcl`, and `README.md` (interface,
  latency, valid/reset behaviour, instantiation template, how to run the testbench and synthesis).

The directory is written whole or not at all (staged beside it, then renamed, output_dir.staged),
and an existing non-empty directory is only replaced with `overwrite=True`. The texts are the
template files `templates/testbench.v`, `streaming_testbench.v`, `README.md` and
`streaming_README.md`, filled by `testbench`, `streaming_testbench`, `readme`, `streaming_readme`.
"""
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.output_dir import check_output_dir, staged
from qonnx_c4ml.templates import fill

DEFAULT_VECTORS = 100
MAX_REPORTED_MISMATCHES = 10


def random_codes(port, count, seed=0):
    """`count` input vectors: the corners (all lo, all hi, all 0) first, then uniform random codes."""
    lo, hi = port.code_range
    rng = np.random.default_rng(seed)
    codes = rng.integers(lo, hi + 1, size=(count, port.elements), dtype=np.int64)
    corners = [np.full(port.elements, value, dtype=np.int64) for value in dict.fromkeys((lo, hi, 0))]
    for row, corner in enumerate(corners[:count]):
        codes[row] = corner
    return codes


def hex_lines(codes, port):
    """One hex word per vector, `port.width` bits wide: element 0 in the LSBs, two's complement."""
    from qonnx_c4ml.sim import pack_codes

    try:
        words = pack_codes(codes, port.bits, port.signed)
    except ValueError as error:
        raise C4mlError(f"input vectors: {error}") from None
    digits = -(-port.width // 4)
    lines = []
    for row in words:
        value = 0
        for index, word in enumerate(row.tolist()):
            value |= int(word) << (32 * index)
        lines.append(f"{value & ((1 << port.width) - 1):0{digits}x}")
    return lines


def _port_text(port):
    kind = "signed (two's complement)" if port.signed else "unsigned"
    return f"{port.elements} x {port.bits}-bit {kind}"


def write_hex(path, lines, what):
    header = f"// {what}: {len(lines)} vectors, one per line, element 0 in the least significant bits\n"
    Path(path).write_text(header + "\n".join(lines) + "\n")


def testbench(description, n_vectors, input_file, expected_file):
    """Verilog text of the self-checking testbench `tb_<top>` (see module doc; templates/testbench.v)."""
    return fill("testbench.v", top=description.top, name=f"tb_{description.top}", inp=description.inp,
                out=description.out, latency=description.latency_cycles, n_vectors=n_vectors,
                in_text=_port_text(description.inp), out_text=_port_text(description.out),
                max_reported=MAX_REPORTED_MISMATCHES, input_file=input_file, expected_file=expected_file)


def _streaming_texts(stream, c, h, w, pixel):
    """(what the circuit is, what one in_data word is) for a streaming README: a folded dense
    chain takes whole samples (a 1x1 frame), a conv/pool front pixels in raster order."""
    sign = "signed" if pixel["signed"] else "unsigned"
    dense = ("fully parallel dense part" if not stream.get("folded") else
             "folded dense part (each layer computes its outputs over R cycles with constant-weight units)")
    if stream.get("folded") and not stream.get("layers"):
        return ("whose dense layers are folded: each computes its outputs over R cycles with "
                "constant-weight units (weights are constants in the logic)",
                f"one sample: {c} x {pixel['bits']}-bit {sign} codes, element 0 in the LSBs; one word per frame")
    return (f"whose convolution/pool layers stream one pixel per clock cycle through line buffers (weights "
            f"are constants in the logic) into a {dense}",
            f"one pixel: {c} channels x {pixel['bits']}-bit {sign} codes, channel 0 in the LSBs; pixels in raster "
            f"order (row by row), {h}x{w} per frame")


def _streaming_fields(description, n_frames, input_file, expected_file):
    c, h, w = description.stream["in_shape"]
    pixel = description.stream["pixel_in"]
    style_text, in_data_text = _streaming_texts(description.stream, c, h, w, pixel)
    return dict(top=description.top, name=f"tb_{description.top}", out=description.out,
                style_text=style_text, in_data_text=in_data_text,
                style_name="folded" if description.stream.get("folded") else "streaming",
                stream=description.stream, c=c, h=h, w=w, pixel=pixel,
                pixel_width=pixel["elements"] * pixel["bits"], pixel_sign="signed" if pixel["signed"] else "unsigned",
                out_text=_port_text(description.out), n_frames=n_frames, input_file=input_file,
                expected_file=expected_file)


def streaming_testbench(description, n_frames, input_file, expected_file):
    """Verilog text of `tb_<top>` for a streaming top: pixels in through valid/ready, frames out
    (templates/streaming_testbench.v)."""
    fields = _streaming_fields(description, n_frames, input_file, expected_file)
    pixels = fields["h"] * fields["w"]
    frame_cycles = max(pixels, int(description.stream.get("ii_cycles") or 1))  # a folded frame: 1 pixel, R cycles
    return fill("streaming_testbench.v", pixels=pixels, frame_cycles=frame_cycles, **fields)


def streaming_readme(description, n_frames, input_file, expected_file, source=None):
    """README.md of a streaming package: the pixel interface and how to run the testbench
    (templates/streaming_README.md)."""
    fields = _streaming_fields(description, n_frames, input_file, expected_file)
    return fill("streaming_README.md", source_text=_source_text(source), sources=_sources_text(description.files),
                n_pixels=n_frames * fields["h"] * fields["w"], **fields)


def _sources_text(files):
    return " ".join(files)


def _source_text(source):
    return f" (`{source}`)" if source else ""


def _timing_text(latency, wrapper_module):
    if latency == 0:
        return ("Combinational (latency 0): out_data and out_valid follow in_data and in_valid within "
                "the same cycle; clock and reset are unused. For register-to-register timing use the "
                f"`{wrapper_module}` wrapper (latency 2).")
    return (f"Pipelined, latency {latency} cycles: a sample presented on in_data with in_valid high "
            f"at rising clock edge *k* appears on out_data with out_valid high after rising edge "
            f"*k + {latency}*. The inputs are registered (no logic between the input pins and the "
            "first register).")


def _wrapper_texts(description, combinational):
    """(files-table row, instantiation note, Vivado note) of the `<top>_registered` wrapper ('' without one)."""
    wrapper, top, latency = description.registered_wrapper, description.top, description.latency_cycles
    if not wrapper:
        return "", "", ""
    module = Path(wrapper).stem
    row = (f"| `{wrapper}` | `{module}`: input and output registers around `{top}` "
           f"(latency {latency + 2}), for timing analysis |\n")
    note = f"`{module}` has the same ports and adds an input and an output register (latency {latency + 2}).\n"
    vivado = (f" For register-to-register timing of the combinational circuit synthesize `{module}` (add "
              f"`{wrapper}`, set `top`)." if combinational else "")
    return row, note, vivado


def readme(description, files, n_vectors, input_file, expected_file, source=None, user_inputs=False):
    """README.md for hardware engineers (interface, timing, instantiation, simulation, synthesis;
    templates/README.md)."""
    top, inp, out, latency = description.top, description.inp, description.out, description.latency_cycles
    wrapper = description.registered_wrapper
    combinational = latency == 0
    (lo_in, hi_in), (lo_out, hi_out) = inp.code_range, out.code_range
    wrapper_row, wrapper_note, vivado_wrapper = _wrapper_texts(description, combinational)
    file_rows = "".join(f"| `{f}` | {'top module' if f == description.files[-1] else 'layer module'} |\n"
                        for f in description.files)
    return fill(
        "README.md", top=top, name=f"tb_{top}", inp=inp, out=out, latency=latency, n_vectors=n_vectors,
        input_file=input_file, expected_file=expected_file, source_text=_source_text(source),
        pipeline=description.pipeline, plural="s" if latency != 1 else "", file_rows=file_rows,
        wrapper_row=wrapper_row, wrapper_note=wrapper_note, vivado_wrapper=vivado_wrapper,
        top_file=description.files[-1], sources=_sources_text(files),
        timing=_timing_text(latency, Path(wrapper).stem if wrapper else ""),
        vectors_from="the caller's input codes" if user_inputs else
        "random codes; the first ones all-minimum, all-maximum, all-zero",
        clock_note=" (unused: combinational circuit)" if combinational else "",
        reset_note=" (unused)" if combinational else "",
        reset_valid="" if combinational else
        f"; out_valid is low from the next cycle until {latency} cycles after the first valid input",
        signed_read=f", signed: `$signed(out_data[{out.bits}*i +: {out.bits}])`" if out.signed else "",
        in_text=_port_text(inp), out_text=_port_text(out), lo_in=lo_in, hi_in=hi_in, lo_out=lo_out, hi_out=hi_out,
        in_msb=inp.width - 1, out_msb=out.width - 1, in_element_msb=inp.bits - 1, out_element_msb=out.bits - 1,
        in_hex_digits=-(-inp.width // 4))


def check_destination(out_dir, overwrite=False, verilog_dir=None):
    """`out_dir` as a Path if a package may be written there, else C4mlError (never replace a
    non-empty directory without `overwrite`, never the circuit's own Verilog directory)."""
    out_dir = Path(out_dir)
    if verilog_dir is not None:
        resolved, sources = out_dir.resolve(), Path(verilog_dir).resolve()
        if resolved == sources or resolved in sources.parents:
            raise C4mlError(f"{out_dir} holds the circuit's own Verilog ({verilog_dir}); "
                            "package into another directory")
    return check_output_dir(out_dir, overwrite, force_hint="--force (Python: overwrite=True)")[0]


def package(circuit, out_dir, vectors=DEFAULT_VECTORS, inputs=None, seed=0, overwrite=False, source=None):
    """Write the hand-off directory for `circuit` (a qonnx_c4ml.Circuit) into `out_dir`.

    `inputs`: optional int codes (N, input elements) used instead of `vectors` random ones.
    Returns a dict: dir, files, vectors, testbench, top, latency_cycles.
    """
    from qonnx_c4ml.synth import write_vivado_tcl

    description = circuit.description
    streaming = description.style == "streaming"
    verilog_dir = circuit.verilog_dir
    out_dir = check_destination(out_dir, overwrite, verilog_dir)
    if inputs is None:
        if int(vectors) < 1:
            raise C4mlError(f"vectors must be at least 1, got {vectors}")
        codes = random_codes(description.inp, int(vectors), seed)
    else:
        codes = np.asarray(inputs)
        if codes.ndim == 1:
            codes = codes.reshape(1, -1)
        if codes.ndim != 2 or codes.shape[1] != description.inp.elements or not len(codes):
            raise C4mlError(f"inputs must have shape (N, {description.inp.elements}) with N >= 1, "
                            f"got {codes.shape}")
    in_lines = hex_lines(codes, description.inp)  # validates the codes' range first
    if streaming:  # the testbench sends pixels: gathered (in_index) and in raster order
        from qonnx_c4ml.interface import Port
        from qonnx_c4ml.sim.stream_simulator import frames_to_pixels

        frames = np.asarray(codes, dtype=np.int64)
        if description.stream.get("in_index"):
            frames = frames[:, description.stream["in_index"]]
        in_lines = hex_lines(frames_to_pixels(frames, description.stream["in_shape"]),
                             Port(**description.stream["pixel_in"]))
    expected = circuit.run_codes(np.asarray(codes, dtype=np.int64))
    out_lines = hex_lines(expected, description.out)

    top = description.top
    input_file, expected_file = f"{top}_inputs.hex", f"{top}_expected.hex"
    verilog = list(description.files) + ([description.registered_wrapper] if description.registered_wrapper else [])
    missing = [f for f in verilog if not (verilog_dir / f).is_file()]
    if missing:
        raise C4mlError(f"the circuit's Verilog is gone from {verilog_dir} (missing {', '.join(missing)}); "
                        "rebuild the Circuit")
    with staged(out_dir) as staging:
        for f in verilog:
            shutil.copyfile(verilog_dir / f, staging / f)
        n = len(codes)
        (staging / f"tb_{top}.v").write_text(streaming_testbench(description, n, input_file, expected_file)
                                             if streaming else testbench(description, n, input_file, expected_file))
        write_hex(staging / input_file, in_lines, f"{top} in_data, {_port_text(description.inp)}")
        write_hex(staging / expected_file, out_lines, f"{top} expected out_data, {_port_text(description.out)}")
        report = verilog_dir / "report.json"
        if report.is_file():
            shutil.copyfile(report, staging / "report.json")
            if (verilog_dir / "report.html").is_file():  # self-contained (plots inlined)
                shutil.copyfile(verilog_dir / "report.html", staging / "report.html")
        else:
            (staging / "report.json").write_text(json.dumps(asdict(description), indent=2, sort_keys=True) + "\n")
        write_vivado_tcl(staging / "vivado_synth.tcl", [staging / f for f in description.files], top)
        (staging / "README.md").write_text(
            streaming_readme(description, n, input_file, expected_file, source=source) if streaming else
            readme(description, list(description.files), n, input_file, expected_file, source=source,
                   user_inputs=inputs is not None))
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; give it a normal directory's mode
    files = sorted(p.name for p in out_dir.iterdir())
    return {"dir": str(out_dir), "files": files, "vectors": len(codes), "testbench": f"tb_{top}.v",
            "top": top, "latency_cycles": description.latency_cycles}

