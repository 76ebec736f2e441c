"""The printed tables of benchmarks/circuit_quality.py: one per yosys flow, one for ECP5 timing."""

BASELINES = ("naive", "da4ml", "alkaid")


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def _footnote(row):
    extra = next((row["variants"][n] for n in ("da4ml", "alkaid") if "requant_rows" in row["variants"].get(n, {})), {})
    note = (f"; da4ml/alkaid requant: {extra['native_requant_rows']}/{extra['requant_rows']} rows as "
            f"shift+floor+saturate, rest comparators" if extra else "")
    versions = ", ".join(f"{n} {row['variants'][n]['lib_version']}" for n in ("da4ml", "alkaid")
                         if "lib_version" in row["variants"].get(n, {}))
    return (f"      ({row['model']}: {row['nonzero_weights']:,}/{row['weights']:,} non-zero weights, "
            f"{row['thresholds']:,} thresholds{note}{'; ' + versions if versions else ''})")


def flow_table(rows, flow):
    carry = {"xilinx": "CARRY4", "ecp5": "CCU2C"}.get(flow)
    head = (f"{'bits':>4}  {'variant':<7} {'gen [s]':>9} {'LUTs':>8} " + (f"{carry:>7} " if carry else "")
            + f"{'depth':>6} {'synth [s]':>9}  {'ours/x LUTs':>11} "
            + (f"{'ours/x ' + carry:>13} " if carry else "") + f"{'ours/x depth':>12} {'ours/x gen':>10}")
    lines = [f"yosys flow {flow}; all variants: whole network (dense + requantization), combinational",
             head, "-" * len(head)]
    for row in rows:
        ours = row["variants"]["ours"].get("synth", {}).get(flow, {})
        for name in ("ours", *BASELINES):
            v = row["variants"].get(name)
            if v is None:
                continue
            s = v.get("synth", {}).get(flow, {})
            if "luts" not in s:
                gen = f"{v['gen_s']:>9.4f} " if "gen_s" in v else ""
                lines.append(f"{row['bits']:>4}  {name:<7} {gen}not measured ({s.get('error') or v.get('error', '?')})")
                continue
            cmp = ("" if name == "ours" else
                   f"  {ratio(ours.get('luts'), s['luts']):>11} "
                   + (f"{ratio(ours.get('carry'), s['carry']):>13} " if carry else "")
                   + f"{ratio(ours.get('depth'), s['depth']):>12} "
                   f"{ratio(row['variants']['ours']['gen_s'], v['gen_s']):>10}")
            lines.append(f"{row['bits']:>4}  {name:<7} {v['gen_s']:>9.4f} {s['luts']:>8,} "
                         + (f"{s['carry']:>7,} " if carry else "")
                         + f"{s['depth']:>6} {s['synth_s']:>9.1f}{cmp}")
        lines.append(_footnote(row))
    return "\n".join(lines)


def _resources(p):
    """LUT4 slots (TRELLIS_COMB: LUT4s + 2 per CCU2C) + flip-flops, as nextpnr placed them."""
    return p["comb_used"] + p["utilization"].get("TRELLIS_FF", {}).get("used", 0)


def fmax_table(rows, freq):
    pnr = [p for row in rows for v in row["variants"].values() for p in [v.get("pnr")] if p and "fmax_mhz" in p]
    tool = f"{pnr[0]['device']} {pnr[0]['package']}, {pnr[0]['nextpnr']}" if pnr else "ECP5"
    head = (f"{'bits':>4}  {'variant':<13} {'Fmax [MHz]':>10} {'path [ns]':>9} {'cells':>5} {'LUT4':>7} "
            f"{'CCU2C':>6} {'FF':>6} {'COMB+FF':>8} {'P&R [s]':>7}")
    lines = [f"ECP5 place and route ({tool}, target {freq:g} MHz, seed 1, no pin constraints): "
             "register-to-register Fmax;", "ours p=none, da4ml and alkaid inside registers at both ends "
             "(<top>_registered); cells = logic cells on the critical path; COMB+FF = LUT4 slots "
             "(CCU2C = 2) + flip-flops placed; da4ml c=X: da4ml's own pipeline at latency cutoff X", head, "-" * len(head)]
    for row in rows:
        ordered = sorted(row["variants"].items(), key=lambda item: not item[0].startswith("ours"))
        for name, v in ordered:
            p = v.get("pnr")
            if p is None:
                continue
            label = "ours p=none" if name == "ours" else name
            if "fmax_mhz" not in p:
                lines.append(f"{row['bits']:>4}  {label:<13} not measured ({p.get('error', '?')})")
                continue
            lines.append(f"{row['bits']:>4}  {label:<13} {p['fmax_mhz']:>10.1f} {p['critical_path_ns']:>9.2f} "
                         f"{p['critical_path_cells']:>5} {p['luts']:>7,} {p['carry']:>6,} {p['ffs']:>6,} "
                         f"{_resources(p):>8,} {p['pnr_s']:>7.0f}")
    return "\n".join(lines)


def fmax_ratios(rows):
    """ours x baseline: Fmax ratio and (LUT4 slots + FF) ratio, ours / baseline."""
    lines = ["ECP5 ratios ours / baseline: Fmax (> 1: ours faster) / COMB+FF (< 1: ours smaller)"]
    for row in rows:
        timed = {n: v["pnr"] for n, v in row["variants"].items() if "fmax_mhz" in v.get("pnr", {})}
        baselines = [n for n in timed if not n.startswith("ours")]
        if not baselines:
            continue
        lines.append(f"{row['bits']:>4}  {'':<13} " + " ".join(f"{n:>17}" for n in baselines))
        for name, p in timed.items():
            if name.startswith("ours"):
                label = "ours p=none" if name == "ours" else name
                cells = [f"{ratio(p['fmax_mhz'], timed[n]['fmax_mhz'])} / {ratio(_resources(p), _resources(timed[n]))}"
                         for n in baselines]
                lines.append(f"{row['bits']:>4}  {label:<13} " + " ".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)


def report_text(rows, args):
    parts = [flow_table(rows, flow) for flow in args.flows]
    if args.fmax:
        parts += [fmax_table(rows, args.freq), fmax_ratios(rows)]
    missing = {n: why for n, why in args.unavailable.items() if why}
    parts += [f"{n}: not measured ({why})" for n, why in missing.items()]
    return "\n\n".join(parts)
