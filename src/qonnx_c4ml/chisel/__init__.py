"""The circuit generator: constant-weight arithmetic, requantization and Verilog emission.

It plays the role chisel4ml's Chisel backend plays, in Python: `hw` (values with exact ranges),
`arith` (shift-add dot products, adder trees, requantization), `generator` (layer and top
modules, pipelining), `streaming` (one pixel per cycle conv/pool chains).  What it produces is
described by qonnx_c4ml.interface.CircuitDescription; chisel never imports the simulator.
"""
