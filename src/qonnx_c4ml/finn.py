"""A FINN build step: qonnx-c4ml's direct-logic circuit from inside FINN's `build_dataflow`.

    from finn.builder.build_dataflow_config import DataflowBuildConfig
    from qonnx_c4ml.finn import step_c4ml_direct_logic

    cfg = DataflowBuildConfig(output_dir="build", synth_clk_period_ns=10.0, generate_outputs=[],
                              steps=["step_qonnx_to_finn", "step_tidy_up", "step_streamline",
                                     step_c4ml_direct_logic])

`step_c4ml_direct_logic(model, cfg) -> model` has FINN's step signature. Put it after FINN's
front-end steps: after step_qonnx_to_finn or step_tidy_up (any network), step_streamline (MLPs;
for CNNs it lowers Conv to Im2Col), or step_convert_to_hw (MLPs, before step_specialize_layers);
it is the last step (what it returns is our circuit, not FINN's dataflow graph). It writes into `cfg.output_dir/c4ml/`:
the Verilog, `model_lbir.onnx`, `report.json`/`report.md`/`report.html` (as `qonnx-c4ml
compile` does), `finn_input.onnx` (the FINN graph it was given) and, unless `verify_samples=0`,
`verify.json`/`verify.txt`: the differential check (`qonnx_c4ml.verify.verify`, numpy and
Verilator RTL) against that FINN graph, which is its own reference. It returns the LBIR model
(metadata `c4ml_circuit`, `c4ml_verilog_dir`).

`c4ml_step(**options)` makes a step with other options (pipeline, style, verify_samples, rtl,
input_datatype, top, fail_on_mismatch).
"""
import json
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.errors import C4mlError

DEFAULTS = dict(pipeline="none", style="auto", top="c4ml_top", input_datatype=None, verify_samples=100,
                rtl=True, seed=0, fail_on_mismatch=True)


def c4ml_step(**options):
    """A FINN build step (model, cfg) -> model with these options (module doc)."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise C4mlError(f"unknown option(s) {sorted(unknown)} for the qonnx-c4ml FINN step; "
                        f"known: {sorted(DEFAULTS)}")
    settings = {**DEFAULTS, **options}

    def step_c4ml_direct_logic(model, cfg):
        return _run(model, cfg, settings)

    return step_c4ml_direct_logic


def _run(model, cfg, o):
    from qonnx_c4ml import flow
    from qonnx_c4ml.verify import verify

    out = Path(cfg.output_dir) / "c4ml"
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(cfg.output_dir) / "c4ml_input"
    staging.mkdir(parents=True, exist_ok=True)
    source = staging / "finn_input.onnx"
    model.save(str(source))
    flow.compile(source, out, pipeline=o["pipeline"], top=o["top"], force=True, style=o["style"],
                 input_datatype=o["input_datatype"])
    (out / "finn_input.onnx").write_bytes(source.read_bytes())
    if o["verify_samples"]:
        report = verify(str(source), samples=o["verify_samples"], seed=o["seed"], rtl=o["rtl"],
                        pipeline=o["pipeline"], style=o["style"], build_dir=out / "verify_build",
                        input_datatype=o["input_datatype"])
        (out / "verify.json").write_text(json.dumps(report.as_dict(), indent=1, default=str))
        (out / "verify.txt").write_text(report.table() + "\n")
        if o["fail_on_mismatch"] and not report.passed:
            raise C4mlError(f"qonnx-c4ml circuit is not exact against the FINN graph:\n{report.table()}")
    return ModelWrapper(str(out / "model_lbir.onnx"))


def step_c4ml_direct_logic(model, cfg):
    """FINN build step (module doc): our direct-logic Verilog and report into cfg.output_dir/c4ml,
    checked in numpy and Verilator RTL on 100 random inputs against the FINN graph it is given."""
    return _run(model, cfg, DEFAULTS)
