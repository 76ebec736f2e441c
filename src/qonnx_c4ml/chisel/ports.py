"""The port list every generated top writes (docs/ARCHITECTURE.md §3): clock, reset, valid and
data in, valid and data out; a streaming module adds in_ready and out_ready."""


def module_header(name, in_width, out_width, streaming=False, out_kind="wire"):
    """The lines `module <name> (` ... `);` of a top with that interface (`out_kind`: "wire" or
    "reg", the kind of out_valid and out_data)."""
    lines = [f"module {name} (", "  input wire clock,", "  input wire reset,", "  input wire in_valid,"]
    if streaming:
        lines.append("  output wire in_ready,")
    lines += [f"  input wire [{in_width - 1}:0] in_data,", f"  output {out_kind} out_valid,"]
    if streaming:
        lines.append("  input wire out_ready,")
    lines += [f"  output {out_kind} [{out_width - 1}:0] out_data", ");"]
    return lines
