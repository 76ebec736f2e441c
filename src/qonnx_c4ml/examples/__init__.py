"""The training example (chisel4ml's walkthrough on Brevitas): data, model, training with
magnitude pruning, evaluation and QONNX export, ready for `Circuit`.

    from qonnx_c4ml.examples import (load_default_data, make_loaders, get_jets_model,
                                     train_model, eval_model, export_qonnx)
    data = load_default_data()                      # or load_jets("hls4ml_lhc_jets_hlf.csv")
    train_loader, test_loader = make_loaders(data)
    model = train_model(get_jets_model(4), train_loader, epochs=3, prune_rate=0.5)
    print(eval_model(model, test_loader))
    export_qonnx(model, "jets_w4.onnx", (1, 16))    # -> Circuit("jets_w4.onnx")(data.x_test)

Importing this package needs neither torch nor brevitas; the functions that do raise a
C4mlError asking for `pip install 'qonnx-c4ml[train]'` when they are missing.
"""
from qonnx_c4ml.examples.data import (JETS_CLASSES, JETS_FEATURES, JETS_LABEL, Dataset, load_default_data,
                                      load_jets, load_mnist_default, make_loaders)
from qonnx_c4ml.examples.demo import train_demo_model
from qonnx_c4ml.examples.model import (eval_model, export_qonnx, exported_weight_sparsity, get_jets_model,
                                       make_pruning_permanent, prune_model, train_model, weight_sparsity)

__all__ = [
    "Dataset", "JETS_CLASSES", "JETS_FEATURES", "JETS_LABEL", "eval_model", "export_qonnx",
    "exported_weight_sparsity", "get_jets_model", "load_default_data", "load_jets", "load_mnist_default",
    "make_loaders", "make_pruning_permanent", "prune_model", "train_demo_model", "train_model",
    "weight_sparsity",
]
