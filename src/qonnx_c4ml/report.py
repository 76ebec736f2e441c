"""Human-readable reports: `report.md` + `report.html` beside `report.json`, and the sweep figure.

- `write_report(out_dir, report, verify=None, synth_per_layer=None)`: the model summary, a
  per-layer table, the exactness table of `verify` and per-layer plots (adders and operator
  levels; LUTs/depth when synthesis numbers per layer exist). The PNGs are written next to
  `report.md`, which links them; `report.html` embeds them as base64 and needs nothing else
  (no external CSS, scripts or network).
- `sweep_figure(rows, path)` / `write_sweep_report(out_dir, rows)`: LUTs, LUT depth and
  generation time against bit width, one line per (model, prune, pipeline); rows are dicts
  with `model, bits, prune, pipeline, luts, depth, generate_s` and optionally `error`.

The page texts are template files: `templates/report.md`, `report_verify.md`,
`report_body.html`, `report_verify.html`, `sweep.md`, `sweep_body.html`, `page.html` (with
`report.css` and `report.js` inlined); the tables come from qonnx_c4ml.tables.

Plots use matplotlib's object API on the Agg canvas (no pyplot state, no display), so they can
be drawn from worker threads.
"""
import base64
import csv
import html
import math
from pathlib import Path

from qonnx_c4ml import tables
from qonnx_c4ml.templates import fill, text

DASH = "–"
SWEEP_COLUMNS = ["model", "bits", "prune", "pipeline", "luts", "depth", "generate_s", "error"]
# The page is self-contained: templates/report.css and report.js are inlined. The load handler
# records how many plots decoded; the headless-browser test reads it back from the DOM.


# ----------------------------------------------------------------------------- formatting

def _missing(value):
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def fmt(value, digits=None):
    """A table cell: '–' for absent values, thousands separators for integers."""
    if _missing(value):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:.{digits}f}"
        return f"{value:.4g}"
    return str(value)


def _percent(fraction):
    return DASH if _missing(fraction) else f"{100 * fraction:.3f} %"


def _html_image(path, caption):
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _html_page(title, body):
    return fill("page.html", title=html.escape(title), style="\n" + text("report.css"), body=body,
                script="\n" + text("report.js"))


def _figure(ncols, width=5.0, height=3.6):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * ncols, height), dpi=100, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


# ----------------------------------------------------------------------------- one model

def _verify_dict(verify):
    if verify is None:
        return None
    return verify.as_dict() if hasattr(verify, "as_dict") else dict(verify)


def _within_tolerance(verify):
    """The exactness rule of verify.VerifyReport, applied to its as_dict() form."""
    from qonnx_c4ml.comparison import Comparison
    from qonnx_c4ml.verify_report import VerifyReport

    fields = {k: v for k, v in verify.items() if k != "comparisons"}
    comparisons = [Comparison(**c) for c in verify.get("comparisons", [])]
    try:
        return VerifyReport(**fields, comparisons=comparisons).passed
    except TypeError:  # a dict from another version; no verdict rather than a wrong one
        return None


def _synth_luts(synth_per_layer, name):
    """(luts, depth) of layer `name` from a {module: int | dict | ModuleReport} or a list of dicts."""
    if not synth_per_layer:
        return None, None
    if isinstance(synth_per_layer, (list, tuple)):
        synth_per_layer = {row.get("name") or row.get("module"): row for row in synth_per_layer}
    entry = synth_per_layer.get(name)
    if entry is None:
        return None, None
    if isinstance(entry, (int, float)):
        return entry, None
    if not isinstance(entry, dict):
        entry = vars(entry)
    return entry.get("luts"), entry.get("depth")


def _lbir_details(path):
    """{layer name: {op, requant, in_dtype, out_dtype}} from a model_lbir.onnx, if it exists."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - details are optional decoration of the report
        return {}
    details = {}
    for node in model.graph.node:
        attributes = {a.name: a.s.decode() for a in node.attribute if a.type == onnx.AttributeProto.STRING}
        if "requant" in attributes:
            details[node.name] = {"op": node.op_type, "requant": attributes["requant"],
                                  "in_dtype": attributes.get("in_dtype"), "out_dtype": attributes.get("out_dtype")}
    return details


def _layers(lbir_model, report, synth_per_layer):
    details = _lbir_details(lbir_model)
    layers = []
    for layer in report.get("layers", []):
        merged = {**details.get(layer.get("name"), {}), **layer}
        luts, depth = _synth_luts(synth_per_layer, layer.get("name"))
        if merged.get("luts") is None:
            merged["luts"] = luts
        if merged.get("depth") is None:
            merged["depth"] = depth
        layers.append(merged)
    return layers


def _port(port):
    if not port:
        return DASH
    sign = "signed" if port.get("signed") else "unsigned"
    return f"{fmt(port.get('elements'))} × {fmt(port.get('bits'))} bit {sign}"


def _chain(report, layers):
    inp, out = report.get("input") or {}, report.get("output") or {}
    parts = [f"in[{inp.get('elements', '?')}×{inp.get('bits', '?')}b]"]
    for layer in layers:
        parts.append(f"{layer.get('name')}[{layer.get('inputs')}→{layer.get('outputs')}]")
        parts.append(f"[{layer.get('outputs')}×{layer.get('out_bits')}b]")
    if layers:
        parts[-1] = f"out[{out.get('elements', '?')}×{out.get('bits', '?')}b]"
    return " → ".join(parts)


def _summary_rows(report, layers, extra):
    rows = [
        ("model", report.get("model")),
        ("top module", report.get("top")),
        ("input", _port(report.get("input"))),
        ("output", _port(report.get("output"))),
        ("layers", len(layers)),
        ("pipeline", report.get("pipeline")),
        ("latency", f"{report['latency_cycles']} cycles" if report.get("latency_cycles") is not None else None),
        ("adders (total)", sum(layer.get("adders") or 0 for layer in layers) if layers else None),
        ("Verilog files", len(report["verilog_files"]) if report.get("verilog_files") else None),
        ("InferLBIR time", f"{report['infer_lbir_s']:.3f} s" if report.get("infer_lbir_s") is not None else None),
        ("generation time", f"{report['generate_s']:.3f} s" if report.get("generate_s") is not None else None),
    ]
    if report.get("luts") is not None:
        rows += [("synthesis flow", f"{report.get('flow')} ({report.get('synth_tool') or 'yosys'})"),
                 ("LUTs", report.get("luts")), ("FFs", report.get("ffs")), ("carry cells", report.get("carry")),
                 ("LUT depth", report.get("depth")),
                 ("synthesis time", f"{report['synth_s']:.1f} s" if report.get("synth_s") is not None else None)]
    known = {name for name, _ in rows}
    rows += [(name, value) for name, value in extra or [] if name not in known]
    return [(name, fmt(value)) for name, value in rows]


LAYER_HEADER = ["layer", "op", "shape (in → out)", "in bits", "out bits", "requant", "adders",
                "operator levels", "latency (cycles)", "LUTs", "LUT depth"]


def _layer_rows(layers):
    rows = []
    for layer in layers:
        shape = DASH if _missing(layer.get("inputs")) else f"{layer.get('inputs')} → {layer.get('outputs')}"
        rows.append([fmt(layer.get("name")), fmt(layer.get("op")), shape, fmt(layer.get("in_bits")),
                     fmt(layer.get("out_bits")), fmt(layer.get("requant")), fmt(layer.get("adders")),
                     fmt(layer.get("operator_levels")), fmt(layer.get("latency_cycles")), fmt(layer.get("luts")),
                     fmt(layer.get("depth"))])
    return rows


VERIFY_HEADER = ["stage vs qonnx", "status", "bit-exact", "same code", "max |diff|", "max diff (LSB)", "time (s)",
                 "same code vs exact reference"]


def _verify_rows(verify):
    noise = verify.get("reference_noise")
    noise_text = f"{_percent(noise['same_code_fraction'])} (noise)" if noise else DASH
    rows = [["qonnx (reference)", "reference", DASH, DASH, DASH, DASH, fmt(verify.get("reference_seconds"), 3),
             noise_text]]
    for c in verify.get("comparisons", []):
        if c.get("skipped"):
            rows.append([c.get("stage"), f"skipped: {c['skipped']}", DASH, DASH, DASH, DASH, DASH, DASH])
            continue
        exact = c.get("exact_fraction") == 1.0
        versus_exact = c.get("exact_same_code_fraction")
        rows.append([c.get("stage"), "bit-exact" if exact else "differs", _percent(c.get("exact_fraction")),
                     _percent(c.get("same_code_fraction")), fmt(c.get("max_abs_diff")),
                     fmt(c.get("max_diff_lsb")), fmt(c.get("seconds"), 3),
                     _percent(versus_exact) if versus_exact is not None else DASH])
    return rows


def _layer_ticks(axis, names):
    crowded = len(names) > 4
    axis.set_xticks(list(range(len(names))), names, rotation=30 if crowded else 0,
                    ha="right" if crowded else "center")
    axis.grid(axis="y", alpha=.3)


def _plot_layers(out_dir, layers):
    """PNG files: adders + operator levels per layer; LUTs (+ depth) per layer when known."""
    plots = []
    if not layers:
        return plots
    names = [str(layer.get("name")) for layer in layers]
    positions = range(len(names))
    figure, (adders, levels) = _figure(2)
    adders.bar(positions, [layer.get("adders") or 0 for layer in layers], color="#4c72b0")
    adders.set_title("adders per layer")
    adders.set_ylabel("adders / subtractors")
    levels.bar(positions, [layer.get("operator_levels") or 0 for layer in layers], color="#55a868")
    levels.set_title("operator levels per layer")
    levels.set_ylabel("levels (adders, comparators, muxes)")
    for axis in (adders, levels):
        _layer_ticks(axis, names)
    path = Path(out_dir) / "report_adders.png"
    figure.savefig(path)
    plots.append((path, "Adders and operator levels per layer (from the generated Verilog)"))

    if any(layer.get("luts") is not None for layer in layers):
        has_depth = any(layer.get("depth") is not None for layer in layers)
        figure, axes = _figure(2 if has_depth else 1)
        axes[0].bar(positions, [layer.get("luts") or 0 for layer in layers], color="#c44e52")
        axes[0].set_title("LUTs per layer")
        axes[0].set_ylabel("LUTs")
        if has_depth:
            axes[1].bar(positions, [layer.get("depth") or 0 for layer in layers], color="#8172b2")
            axes[1].set_title("LUT depth per layer")
            axes[1].set_ylabel("LUT levels")
        for axis in axes:
            _layer_ticks(axis, names)
        path = Path(out_dir) / "report_luts.png"
        figure.savefig(path)
        plots.append((path, "LUTs and LUT depth per layer (yosys, each layer synthesized on its own)"))
    return plots


def _verify_sections(verify):
    """(Markdown, HTML) of the "Exactness (verify)" section for verify.as_dict()."""
    verdict = _within_tolerance(verify)
    lsb = verify.get("output_lsb")
    intro = (f"{fmt(verify.get('samples'))} samples, seed {fmt(verify.get('seed'))}, "
             f"output LSB {fmt(lsb) if lsb else DASH}. ")
    noise = verify.get("reference_noise")
    if noise:  # the float32 reference against the exact one: reported, never hidden
        intro += (f"Exact reference: qonnx float32 on another code for "
                  f"{100 * (1 - noise['same_code_fraction']):.3f} % of outputs (max "
                  f"{fmt(noise['max_diff_lsb'])} LSB). ")
    verdict_text = {True: "Within the exactness rule.", False: "Breaks the exactness rule.", None: ""}[verdict]
    rows = _verify_rows(verify)
    css = {True: "ok", False: "bad", None: "muted"}[verdict]
    return (fill("report_verify.md", intro=intro, verdict=verdict_text, table=tables.markdown(VERIFY_HEADER, rows)),
            fill("report_verify.html", intro=html.escape(intro), css=css, verdict=html.escape(verdict_text),
                 table=tables.html(VERIFY_HEADER, rows)))


def write_report(out_dir, report, verify=None, synth_per_layer=None, extra=None, title=None, lbir_model=None):
    """Write `report.md`, `report.html` and the plot PNGs into `out_dir`; returns their paths.

    `report`: the dict `compile_model` writes to report.json. `verify`: a VerifyReport or its
    `as_dict()`. `synth_per_layer`: {layer/module name: LUT count | dict with luts/depth |
    yosys ModuleReport} (layers may also carry "luts"/"depth" themselves). `extra`: further
    (label, value) rows for the summary (the demo adds accuracy and timings; labels already
    there are skipped). `lbir_model`: the compiled `model_lbir.onnx` the layers' op and
    requantization style are read from (default: the one in `out_dir`).
    Returns {"md": path, "html": path, "plots": [png paths]}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verify = _verify_dict(verify)
    layers = _layers(lbir_model or out_dir / "model_lbir.onnx", report, synth_per_layer)
    title = title or f"qonnx-c4ml report: {Path(str(report.get('model') or report.get('top') or 'circuit')).name}"
    summary = _summary_rows(report, layers, extra)
    layer_rows = _layer_rows(layers)
    plots = _plot_layers(out_dir, layers)
    chain = _chain(report, layers)

    summary_md, summary_html = tables.markdown(["", "value"], summary), tables.html(["", "value"], summary, "kv")
    layers_md, layers_html = tables.markdown(LAYER_HEADER, layer_rows), tables.html(LAYER_HEADER, layer_rows)
    verify_md, verify_html = _verify_sections(verify) if verify is not None else ("", "")
    plots_md = "".join(f"\n![{caption}]({path.name})\n" for path, caption in plots)
    plots_html = "".join("\n" + _html_image(path, caption) for path, caption in plots)
    md = fill("report.md", title=title, chain=chain, summary=summary_md, layers=layers_md, verify=verify_md,
              plots="\n## Plots\n" + plots_md if plots else "")
    body = fill("report_body.html", title=html.escape(title), chain=html.escape(chain), summary=summary_html,
                layers=layers_html, verify=verify_html, plots="\n<h2>Plots</h2>" + plots_html if plots else "")
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(md, encoding="utf-8")
    html_path.write_text(_html_page(title, body), encoding="utf-8")
    return {"md": md_path, "html": html_path, "plots": [path for path, _ in plots]}


# ----------------------------------------------------------------------------- sweeps

def _number(value):
    if _missing(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _series(rows):
    """{(model, prune, pipeline): [(bits, row), ...] sorted by bits}, rows with an error left out."""
    series = {}
    for row in rows:
        if row.get("error") or _number(row.get("bits")) is None:
            continue
        key = (str(row.get("model")), row.get("prune"), str(row.get("pipeline")))
        series.setdefault(key, []).append((_number(row["bits"]), row))
    ordered = sorted(series.items(), key=lambda item: str(item[0]))
    return {key: sorted(points, key=lambda p: p[0]) for key, points in ordered}


def sweep_figure(rows, path):
    """The seed comparison figure: LUTs, LUT depth and generation time against bit width,
    one line per (model, prune, pipeline); rows with `error` are left out. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = _figure(3, width=4.6, height=3.8)
    panels = [("luts", "LUTs", "LUTs"), ("depth", "LUT depth", "LUT levels"),
              ("generate_s", "generation time", "seconds")]
    series = _series(rows)
    for (model, prune, pipeline), points in series.items():
        label = f"{model}, prune {fmt(prune)}, pipeline {pipeline}"
        for axis, (key, _, _) in zip(axes, panels):
            xy = [(bits, _number(row.get(key))) for bits, row in points if _number(row.get(key)) is not None]
            if xy:
                axis.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=label)
    all_bits = sorted({bits for points in series.values() for bits, _ in points})
    for axis, (_, name, unit) in zip(axes, panels):
        axis.set_title(f"{name} vs bit width")
        axis.set_xlabel("bit width")
        axis.set_ylabel(unit)
        axis.grid(alpha=.3)
        if all_bits:
            axis.set_xticks(all_bits)
    failed = sum(1 for row in rows if row.get("error"))
    if not series:
        axes[1].text(.5, .5, "no successful runs", transform=axes[1].transAxes, ha="center", va="center")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[2].get_legend_handles_labels()
    if handles:
        try:
            figure.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize="small")
        except ValueError:  # matplotlib < 3.7 has no "outside" placement
            axes[0].legend(handles, labels, fontsize="small")
    figure.suptitle(f"sweep: {len(rows) - failed} runs" + (f", {failed} failed" if failed else ""))
    figure.savefig(path)
    return path


def _sweep_columns(rows):
    extra = sorted({key for row in rows for key in row} - set(SWEEP_COLUMNS))
    return SWEEP_COLUMNS + extra


def write_sweep_report(out_dir, rows):
    """Write sweep.csv (every row), sweep.png (`sweep_figure`), sweep.md and the self-contained
    sweep.html into `out_dir`; returns {"csv", "png", "md", "html"} paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [dict(row) for row in rows]
    columns = _sweep_columns(rows)
    csv_path = out_dir / "sweep.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in columns})
    png_path = sweep_figure(rows, out_dir / "sweep.png")
    table = [[fmt(row.get(key), 3) if key == "generate_s" and isinstance(row.get(key), float) else fmt(row.get(key))
              for key in columns] for row in rows]
    failed = sum(1 for row in rows if row.get("error"))
    intro = f"{len(rows)} runs, {failed} failed."
    md = fill("sweep.md", intro=intro, png=png_path.name, table=tables.markdown(columns, table))
    body = fill("sweep_body.html", intro=html.escape(intro), table=tables.html(columns, table),
                image=_html_image(png_path, "LUTs, LUT depth and generation time against bit width, "
                                            "one line per (model, prune, pipeline)"))
    md_path, html_path = out_dir / "sweep.md", out_dir / "sweep.html"
    md_path.write_text(md, encoding="utf-8")
    html_path.write_text(_html_page("qonnx-c4ml sweep", body), encoding="utf-8")
    return {"csv": csv_path, "png": png_path, "md": md_path, "html": html_path}
