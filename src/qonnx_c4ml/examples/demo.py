"""`qonnx-c4ml demo --train`: train, prune and export the jets model on the default data."""
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qonnx_c4ml.examples._deps import require_torch


@dataclass
class TrainedDemo:
    model_path: Path
    x_test: np.ndarray
    y_test: np.ndarray
    title: str
    accuracy_torch: float
    sparsity: float
    train_s: float


def train_demo_model(output_dir, epochs=1, prune_rate=0.5, bitwidth=4, seed=0, log=None):
    """Train `get_jets_model(bitwidth)` on `load_default_data()` (`epochs`, `prune_rate`
    magnitude pruning), export it to `output_dir/jets_w{bitwidth}_trained.onnx` and return a
    TrainedDemo (model path, test data, a one-line title, torch accuracy, weight sparsity)."""
    torch = require_torch("qonnx-c4ml demo --train")
    from qonnx_c4ml.examples.data import load_default_data, make_loaders
    from qonnx_c4ml.examples.model import (eval_model, export_qonnx, exported_weight_sparsity, get_jets_model,
                                           train_model)

    torch.manual_seed(seed)
    data = load_default_data()
    train_loader, test_loader = make_loaders(data, seed=seed)
    start = time.perf_counter()
    model = train_model(get_jets_model(bitwidth, in_features=data.n_features, n_classes=data.n_classes),
                        train_loader, epochs=epochs, prune_rate=prune_rate, seed=seed, log=log)
    train_s = time.perf_counter() - start
    accuracy = eval_model(model, test_loader)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"jets_w{bitwidth}_trained.onnx"
    sparsity = exported_weight_sparsity(export_qonnx(model, path, (1, data.n_features)))
    title = (f"{path.name} (16-64-32-32-5 MLP, {bitwidth}-bit, Brevitas, trained {epochs} epoch(s) "
             f"in {train_s:.1f} s on {data.description}, {100 * sparsity:.0f} % of weights pruned)")
    return TrainedDemo(path, data.x_test, data.y_test, title, accuracy, sparsity, train_s)
