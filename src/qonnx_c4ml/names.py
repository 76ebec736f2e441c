"""Readable, unique identifiers (ONNX node names become Verilog module and wire names)."""


def unique_name(base, taken):
    """`base`, or `base_2`, `base_3`, ... whichever is not in `taken`; records the choice."""
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def verilog_identifier(name, default="layer"):
    """`name` as a Verilog/C identifier: every other character becomes `_` (leading and trailing
    ones dropped), a leading digit gets an `n_` prefix, an empty result is `default`."""
    clean = "".join(c if c.isascii() and c.isalnum() else "_" for c in name or "").strip("_")
    if not clean:
        return default
    return f"n_{clean}" if clean[0].isdigit() else clean
