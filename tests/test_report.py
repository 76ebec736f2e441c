"""report.md / report.html beside report.json, the sweep figure, and the acceptance check that
report.html renders with its plots in a real headless Chromium."""
import csv
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from qonnx_c4ml.cli import DEMO_MODEL, compile_model
from qonnx_c4ml.report import DASH, sweep_figure, write_report, write_sweep_report
from qonnx_c4ml.verify import verify

LAYERS = ["Gemm_0", "Gemm_1", "Gemm_2", "Gemm_3"]  # the shipped digits model
ADDERS_BLUE = (0x4C, 0x72, 0xB0)  # bar colour of the adders plot (report.py)
SYNTH = {"Gemm_0": {"luts": 900, "depth": 12}, "Gemm_1": {"luts": 500, "depth": 11}, "Gemm_2": 300}


def run_cli(*args):
    result = subprocess.run([sys.executable, "-m", "qonnx_c4ml.cli", *map(str, args)],
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def compiled(tmp_path):
    """The demo model compiled into tmp_path/out, plus a (no-RTL) verify report of it."""
    out = tmp_path / "out"
    report = compile_model(DEMO_MODEL, out, pipeline="layer")
    check = verify(DEMO_MODEL, samples=64, rtl=False)
    return out, report, check


def test_compile_writes_markdown_and_html_reports(compiled):
    out, report, _ = compiled
    for name in ("report.json", "report.md", "report.html", "report_adders.png"):
        assert (out / name).is_file(), name
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for name in LAYERS:
        assert f"| {name} |" in md
        assert f'<td class="t">{name}</td>' in page
    assert "| Gemm_0 | QDense | 64 → 64 | 8 | 4 | thresholds |" in md  # op and requant from model_lbir.onnx
    assert "![" in md and "(report_adders.png)" in md
    assert page.count('src="data:image/png;base64,') == 1
    assert "Exactness" not in md  # compile alone has no verify results
    assert "http://" not in page and "https://" not in page and "<link" not in page  # self-contained


def test_write_report_with_verify_and_per_layer_luts(compiled):
    out, report, check = compiled
    written = write_report(out, report, verify=check.as_dict(), synth_per_layer=SYNTH)
    assert [p.name for p in written["plots"]] == ["report_adders.png", "report_luts.png"]
    md, page = written["md"].read_text(), written["html"].read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "(report_luts.png)" in md
    assert re.search(r"\| Gemm_0 \|.*\| 900 \| 12 \|", md)
    assert re.search(rf"\| Gemm_3 \|.*\| {DASH} \| {DASH} \|", md)  # no synthesis numbers for it
    assert "| lbir | bit-exact | 100.000 % | 100.000 % | 0 | 0 |" in md
    assert "Within the exactness rule." in md and "64 samples" in md
    assert '<td class="t">lbir</td><td class="t">bit-exact</td><td>100.000 %</td>' in page
    # a VerifyReport object works as well as its dict
    again = write_report(out / "again", report, verify=check)
    assert "| lbir | bit-exact |" in again["md"].read_text()


def test_minimal_report_shows_dashes_for_absent_keys(tmp_path):
    report = {"top": "t", "pipeline": "none", "latency_cycles": 0,
              "input": {"elements": 4, "bits": 2, "signed": False},
              "output": {"elements": 2, "bits": 5, "signed": True},
              "layers": [{"name": "fc0", "inputs": 4, "outputs": 2, "in_bits": 2, "out_bits": 5, "adders": 3,
                          "operator_levels": 2, "latency_cycles": 0, "luts": 7}]}
    written = write_report(tmp_path, report)
    md = written["md"].read_text()
    assert f"| fc0 | {DASH} | 4 → 2 | 2 | 5 | {DASH} | 3 | 2 | 0 | 7 | {DASH} |" in md
    assert [p.name for p in written["plots"]] == ["report_adders.png", "report_luts.png"]


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("no Chromium found (chromium, chromium-browser or google-chrome on PATH): the report.html "
                "acceptance test needs a real browser; scripts/setup.sh installs it (apt-get install chromium)")


def run_chromium(tmp_path, *args):
    """Headless Chromium with its own profile and cache under tmp_path (no state shared between runs)."""
    profile = tmp_path / "chromium-profile"
    env_dirs = {"HOME": tmp_path / "home", "XDG_CONFIG_HOME": tmp_path / "config",
                "XDG_CACHE_HOME": tmp_path / "cache"}
    for path in env_dirs.values():
        path.mkdir(exist_ok=True)
    env = {**os.environ, **{k: str(v) for k, v in env_dirs.items()}}
    command = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def assert_renders_with_plots(tmp_path, page, plots, colour=None):
    url = page.resolve().as_uri()
    dom = run_chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url)
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    assert f'data-images-total="{plots}"' in body.group(0), body.group(0)
    assert f'data-images-loaded="{plots}"' in body.group(0), body.group(0)  # every plot decoded

    shot = tmp_path / f"{page.stem}_screenshot.png"
    run_chromium(tmp_path, "--virtual-time-budget=5000", "--window-size=1200,2400", f"--screenshot={shot}", url)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels.std() > 10, "the screenshot is blank"
    assert np.mean(pixels.min(axis=2) < 200) > 0.01, "hardly anything drawn"
    if colour is not None:  # the plot itself is on screen, not only the text around it
        close = np.all(np.abs(pixels - np.array(colour)) <= 6, axis=2)
        assert close.sum() > 2000, f"only {close.sum()} pixels of the plot's bars"


def test_report_html_renders_with_plots_in_chromium(compiled, tmp_path):
    out, report, check = compiled
    written = write_report(out, report, verify=check, synth_per_layer=SYNTH)
    assert len(written["plots"]) == 2
    assert_renders_with_plots(tmp_path, written["html"], 2, colour=ADDERS_BLUE)


def sweep_rows():
    rows = []
    for model, scale in (("jets", 3), ("digits", 1)):
        for prune in (0.0, 0.5):
            for bits in (2, 3, 4, 6, 8):
                rows.append({"model": model, "bits": bits, "prune": prune, "pipeline": "none",
                             "luts": int(scale * 120 * bits * (1 - prune / 2)), "depth": 8 + bits,
                             "generate_s": 0.01 * bits * scale})
    rows.append({"model": "jets", "bits": 4, "prune": 0.0, "pipeline": "layer", "luts": 400, "depth": None,
                 "generate_s": 0.05})
    rows.append({"model": "jets", "bits": 16, "prune": 0.0, "pipeline": "none", "luts": None, "depth": None,
                 "generate_s": None, "error": "circuit above --max-operators, refused"})
    return rows


def test_sweep_figure_and_report(tmp_path):
    rows = sweep_rows()
    png = sweep_figure(rows, tmp_path / "figure" / "seed.png")
    import matplotlib.image

    image = matplotlib.image.imread(str(png))
    assert image.shape[1] > image.shape[0] > 200 and image[..., :3].std() > 0.05

    written = write_sweep_report(tmp_path / "sweep", rows)
    assert {k: p.name for k, p in written.items()} == {"csv": "sweep.csv", "png": "sweep.png", "md": "sweep.md",
                                                     "html": "sweep.html"}
    with open(written["csv"], newline="") as stream:
        table = list(csv.DictReader(stream))
    assert len(table) == len(rows)
    assert list(table[0])[:8] == ["model", "bits", "prune", "pipeline", "luts", "depth", "generate_s", "error"]
    assert table[-1]["error"] == "circuit above --max-operators, refused" and table[-1]["luts"] == ""
    assert [int(r["bits"]) for r in table] == [r["bits"] for r in rows]
    md, page = written["md"].read_text(), written["html"].read_text()
    assert "(sweep.png)" in md and md.count("\n| jets |") + md.count("\n| digits |") == len(rows)
    assert page.count('src="data:image/png;base64,') == 1 and "refused" in page


def test_sweep_html_renders_in_chromium(tmp_path):
    written = write_sweep_report(tmp_path / "sweep", sweep_rows())
    assert_renders_with_plots(tmp_path, written["html"], 1)


def test_sweep_figure_with_only_failed_runs(tmp_path):
    rows = [{"model": "m", "bits": 4, "prune": 0, "pipeline": "none", "luts": None, "depth": None,
             "generate_s": None, "error": "boom"}]
    assert sweep_figure(rows, tmp_path / "empty.png").stat().st_size > 0
    assert len(list(csv.DictReader(open(write_sweep_report(tmp_path, rows)["csv"])))) == 1


def test_compile_cli_mentions_the_reports(tmp_path):
    code, stdout, stderr = run_cli("compile", DEMO_MODEL, "-o", tmp_path / "out")
    assert code == 0, stderr
    assert "report.json/.md/.html" in stdout
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.slow
def test_demo_writes_html_report_with_rtl_exactness(tmp_path):
    # uses the shared Verilator cache like test_cli's demo test (content-hash entries, safe in parallel)
    code, stdout, stderr = run_cli("demo", "-o", tmp_path / "demo")
    assert code == 0, stderr
    page = tmp_path / "demo" / "report.html"
    assert f"HTML report       {page}" in stdout
    md = (tmp_path / "demo" / "report.md").read_text()
    assert "| rtl | bit-exact | 100.000 % | 100.000 % | 0 | 0 |" in md
    assert "| accuracy (RTL) |" in md and "Within the exactness rule." in md
    assert "| Gemm_0 | QDense | 64 → 64 | 8 | 4 | thresholds |" in md  # read from verilog/model_lbir.onnx
    assert md.count("| latency |") == 1  # the demo's own latency row is not repeated
    assert page.read_text().count('src="data:image/png;base64,') == 1
