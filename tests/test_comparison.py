"""qonnx_c4ml.comparison: differences counted in output LSBs."""
from pathlib import Path

import numpy as np

from qonnx_c4ml.comparison import compare, compare_exact, exact_failure, output_lsb, output_lsbs
from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations import InferLBIR

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_compare_counts_codes_in_lsbs():
    reference = np.array([[0.0, 0.25, 0.5, 1.0]])
    result = np.array([[0.0, 0.25, 0.75, 1.0]])
    c = compare("rtl", reference, result, 0.25, 0.1)
    assert c.exact_fraction == 0.75 and c.same_code_fraction == 0.75 and c.max_diff_lsb == 1.0
    compare_exact(c, np.array([[0.0, 0.25, 0.75, 1.0]]), result, 0.25)
    assert c.exact_same_code_fraction == 1.0 and c.exact_max_diff_lsb == 0.0


def test_unknown_lsb_falls_back_to_bit_identity():
    c = compare("lbir", np.array([1.0, 2.0]), np.array([1.0, 2.5]), 0.0, 0.0)
    assert c.same_code_fraction == 0.5 and np.isnan(c.max_diff_lsb)


def test_output_lsb_is_the_host_dequantization_scale():
    lbir = read_model(FIXTURES / "jets_w4a4_po2.onnx").transform(InferLBIR())
    assert output_lsb(lbir) == 0.0625 and np.all(output_lsbs(lbir) == 0.0625)
    assert output_lsb(read_model(FIXTURES / "jets_w4a4_po2.onnx")) == 0.0  # no LBIR host nodes yet


def test_exact_failure_is_one_line():
    text = exact_failure(ValueError("bad thing\nsecond line"))
    assert text == "exact reference failed (ValueError: bad thing)"
