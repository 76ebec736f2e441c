"""verify_report.py: the verdict a VerifyReport implies (exact agreement, the float32 rule,
layerwise failures, a failed exact engine) and its table."""
from qonnx_c4ml.comparison import Comparison
from qonnx_c4ml.verify_report import VerifyReport


def stage(name, same_code=1.0, max_lsb=0.0, exact_same=None, exact=1.0):
    return Comparison(name, exact, 0.0, max_lsb, 0.01, same_code_fraction=same_code,
                      exact_same_code_fraction=exact_same, exact_max_diff_lsb=None if exact_same is None else 0.0)


def report(*comparisons, **kw):
    return VerifyReport(samples=100, seed=0, output_lsb=0.25, comparisons=list(comparisons), **kw)


def test_exact_agreement_decides_when_the_exact_reference_exists():
    noise = stage("qonnx", same_code=0.99)
    ok = report(stage("lbir", 0.99, 1.0, exact_same=1.0), stage("rtl", 0.99, 1.0, exact_same=1.0),
                reference_noise=noise)
    assert ok.exact_agreement is True and ok.passed
    bad = report(stage("lbir", 1.0, 0.0, exact_same=0.98), reference_noise=noise)
    assert bad.exact_agreement is False and not bad.passed  # although the float32 rule holds
    assert bad.within_tolerance


def test_float32_rule_without_exact_reference():
    assert report(stage("lbir", 0.9995, 1.0), exact_skipped="no rule").passed
    assert not report(stage("lbir", 0.99, 1.0), exact_skipped="no rule").passed
    assert not report(stage("rtl", 1.0, 2.0), exact_skipped="no rule").passed
    skipped = Comparison("rtl", 0.0, 0.0, 9.0, 0.0, skipped="no verilator")
    assert report(stage("lbir"), skipped, exact_skipped="no rule").passed  # a skipped stage does not count
    assert report(stage("qcdq", 0.5, 3.0), stage("lbir"), exact_skipped="x").passed  # QCDQ: reported only


def test_failing_layer_and_failed_engine_fail():
    assert not report(stage("lbir"), exact_skipped="x", layers=[], first_failing_layer="fc1").passed
    assert report(stage("lbir", 0.5, 5.0), exact_skipped="x", layers=[]).passed  # layerwise decides
    assert not report(stage("lbir"), exact_skipped="engine bug", exact_failed=True).passed


def test_all_exact_and_table():
    r = report(stage("lbir"), stage("rtl", exact=0.5), exact_skipped="no rule")
    assert not r.all_exact and report(stage("lbir")).all_exact
    lines = r.table().splitlines()
    assert lines[0].split()[:2] == ["stage", "bit-exact"] and lines[1].startswith("qonnx")
    assert lines[2].startswith("lbir") and "100.000%" in lines[2]
    assert lines[3].startswith("rtl") and "50.000%" in lines[3]
    assert lines[-1] == "exact    skipped: no rule (float32 rule decides)"
    assert r.as_dict()["comparisons"][1]["exact_fraction"] == 0.5
