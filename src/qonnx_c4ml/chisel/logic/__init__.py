"""The logic IR of chisel/: netlists of ranged integer operations (`netlist`), built by
`build.Module`, transformed by `passes`, costed by `cost`, evaluated in numpy by `evaluate`
and written to Verilog by `verilog` (see docs/ARCHITECTURE.md, chisel)."""
