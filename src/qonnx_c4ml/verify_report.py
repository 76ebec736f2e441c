"""VerifyReport: what `verify` found, and the verdict it implies.

Kept apart from verify.py so that the report writer (report.py) can rebuild a verdict from a
saved report without importing the verification itself (see .importlinter's layers).
"""
from dataclasses import asdict, dataclass, field

from qonnx_c4ml.comparison import Comparison


@dataclass
class VerifyReport:
    samples: int
    seed: int
    output_lsb: float
    comparisons: list = field(default_factory=list)
    reference_seconds: float = 0.0
    exact_seconds: float = 0.0
    exact_skipped: str = ""  # why there is no exact reference ("" when there is one)
    exact_failed: bool = False  # the exact reference raised (a bug in it, not a missing rule): fails
    reference_noise: Comparison = None  # float32 qonnx against the exact reference
    layers: list = None  # layerwise=True: one qonnx_c4ml.layerwise.LayerCheck per layer
    first_failing_layer: str = None
    reference: str = ""  # which graph "qonnx" is (finn_front.reference_description)

    def as_dict(self):
        return asdict(self)

    def table(self):
        """One row per stage: against float32 qonnx (bit-exact, same code, max |diff|, max LSB)
        and against the exact reference (same code, max LSB); the qonnx row is the noise."""
        exact = not self.exact_skipped and self.reference_noise is not None
        head = f"{'stage':8} {'bit-exact':>9} {'same code':>9} {'max |diff|':>11} {'max LSB':>8} {'time s':>8}"
        lines = [head + (f"   vs exact: {'same code':>9} {'max LSB':>8}" if exact else "")]
        ref = f"{'qonnx':8} {'(ref)':>9} {'':>9} {'':>11} {'':>8} {self.reference_seconds:8.3f}"
        if exact:
            noise = self.reference_noise
            ref += (f"   noise: {100 * (1 - noise.same_code_fraction):.3f}% of outputs on another code, "
                    f"max {noise.max_diff_lsb:.3g} LSB")
        lines.append(ref)
        if self.reference:
            lines.append(f"{'':8} reference: {self.reference}")
        for c in self.comparisons:
            if c.skipped:
                lines.append(f"{c.stage:8} skipped: {c.skipped}")
                continue
            line = (f"{c.stage:8} {100 * c.exact_fraction:8.3f}% {100 * c.same_code_fraction:8.3f}% "
                    f"{c.max_abs_diff:11.4g} {c.max_diff_lsb:8.3g} {c.seconds:8.3f}")
            if exact and c.exact_same_code_fraction is not None:
                line += f"              {100 * c.exact_same_code_fraction:8.3f}% {c.exact_max_diff_lsb:8.3g}"
            lines.append(line)
        if exact:
            lines.append(f"{'exact':8} exact reference in {self.exact_seconds:.3f} s; "
                         f"qonnx float32 on another code for {100 * (1 - noise.same_code_fraction):.3f}% of outputs")
        elif self.exact_failed:
            lines.append(f"{'exact':8} FAILED: {self.exact_skipped} (a failure of the reference itself: "
                         "verify fails; --no-exact runs the float32 rule alone)")
        else:
            lines.append(f"{'exact':8} skipped: {self.exact_skipped or 'not run'} (float32 rule decides)")
        if self.layers is not None:
            from qonnx_c4ml.layerwise import layer_table

            lines.append(layer_table(self.layers, self.first_failing_layer))
        return "\n".join(lines)

    @property
    def exact_agreement(self):
        """LBIR and RTL on the exact reference's code for every output element (None: no
        exact reference)."""
        if self.exact_skipped or self.reference_noise is None:
            return None
        return all(c.exact_same_code_fraction == 1.0 for c in self.comparisons
                   if c.stage in ("lbir", "rtl") and not c.skipped)

    @property
    def passed(self):
        """The verdict (CLI exit status): exact agreement end to end when the exact reference
        exists, else the float32 rule — per layer when layerwise checks ran (deep networks
        compound float32 flips end to end), end to end otherwise; with layerwise checks,
        also every layer passing (exactly, where the exact reference exists)."""
        if self.exact_failed:
            return False  # an engine bug must not pass on the float32 rule unnoticed
        layers_ok = self.first_failing_layer is None
        verdict = self.exact_agreement
        if verdict is not None:
            return verdict and layers_ok
        if self.layers is not None:
            return layers_ok
        return self.within_tolerance

    @property
    def all_exact(self):
        return all(c.skipped or c.exact_fraction == 1.0 for c in self.comparisons)

    @property
    def within_tolerance(self):
        """LBIR and RTL obey the float32 rule (docs/ARCHITECTURE.md §2.4): >= 99.9 % same code,
        never > 1 LSB off.

        (The QCDQ stage is a second witness of the reference's semantics, reported only.)
        """
        return all(c.same_code_fraction >= 0.999 and c.max_diff_lsb <= 1.0
                   for c in self.comparisons if c.stage in ("lbir", "rtl") and not c.skipped)
