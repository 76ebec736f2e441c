"""Suite-wide hooks: differential-test summaries reach the terminal, also under xdist.

Tests record a one-line summary with `record_property("c4ml_summary", line)`; xdist ships
user properties from the workers to the controller, which prints them after the run, so
CI logs always show the fuzzing seeds, graph counts and mismatch rates.
"""


def pytest_terminal_summary(terminalreporter):
    lines = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        lines += [value for key, value in getattr(report, "user_properties", []) if key == "c4ml_summary"]
    if lines:
        terminalreporter.section("qonnx-c4ml differential checks")
        for line in sorted(lines):
            terminalreporter.write_line(line)
