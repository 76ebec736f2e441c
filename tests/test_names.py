"""qonnx_c4ml.names: ONNX names as unique Verilog identifiers."""
from qonnx_c4ml.names import unique_name, verilog_identifier


def test_verilog_identifier():
    assert verilog_identifier("/fc1/MatMul:0") == "fc1_MatMul_0"
    assert verilog_identifier("::") == "layer" and verilog_identifier(None, default="top") == "top"
    assert verilog_identifier("0_conv") == "n_0_conv"  # Verilog names do not start with a digit
    assert verilog_identifier("Conv_ü") == "Conv"  # ASCII only


def test_unique_name_counts_up_and_records():
    taken = set()
    assert [unique_name("acc", taken) for _ in range(3)] == ["acc", "acc_2", "acc_3"]
    assert taken == {"acc", "acc_2", "acc_3"}
