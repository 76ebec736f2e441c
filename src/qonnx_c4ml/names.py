"""Readable, unique identifiers (ONNX node names become Verilog module and wire names)."""


def unique_name(base, taken):
    """`base`, or `base_2`, `base_3`, ... whichever is not in `taken`; records the choice."""
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name
