"""load_jets on small files with the OpenML hls4ml_lhc_jets_hlf layout."""
import csv

import numpy as np
import pytest

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.examples import JETS_CLASSES, JETS_FEATURES, load_jets

N = 60


@pytest.fixture
def table():
    rng = np.random.default_rng(1)
    x = rng.normal(loc=np.arange(16) * 10.0, scale=np.arange(1, 17), size=(N, 16))
    x[:, -1] = rng.integers(5, 80, size=N)  # multiplicity is a count
    labels = np.array(JETS_CLASSES)[rng.integers(0, 5, size=N)]
    return x, labels


def write_csv(path, x, labels, columns=JETS_FEATURES + ("class",), quote=False):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row, label in zip(x, labels):
            writer.writerow([repr(float(v)) for v in row][:len(columns) - 1] + [f"'{label}'" if quote else label])
    return path


def check(data, x, labels):
    assert data.x_train.shape == (48, 16) and data.x_test.shape == (12, 16)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.feature_names == JETS_FEATURES and data.class_names == ("g", "q", "t", "w", "z")
    assert np.allclose(data.x_train.mean(0), 0, atol=1e-5) and np.allclose(data.x_train.std(0), 1, atol=1e-4)
    mean, std = data.standardization
    restored = np.concatenate([data.x_train, data.x_test]) * std + mean
    codes = np.searchsorted(np.array(JETS_CLASSES), labels)
    # every row survives with its label (the split only permutes)
    order = np.lexsort(restored.T[::-1])
    expected = np.lexsort(x.T[::-1])
    assert np.allclose(restored[order], x[expected], rtol=1e-5, atol=1e-3)
    assert np.array_equal(np.concatenate([data.y_train, data.y_test])[order], codes[expected])


@pytest.mark.parametrize("quote", [False, True])
def test_csv(tmp_path, table, quote):
    x, labels = table
    check(load_jets(write_csv(tmp_path / "jets.csv", x, labels, quote=quote)), x, labels)


def test_csv_with_original_h5_names(tmp_path, table):
    x, labels = table
    columns = tuple(f"j_{c}" for c in JETS_FEATURES) + ("class",)
    check(load_jets(write_csv(tmp_path / "jets.csv", x, labels, columns)), x, labels)


def test_split_is_deterministic(tmp_path, table):
    path = write_csv(tmp_path / "jets.csv", *table)
    a, b = load_jets(path), load_jets(path)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(load_jets(path, seed=7).y_test, a.y_test)


def test_npz_one_array_per_column(tmp_path, table):
    x, labels = table
    path = tmp_path / "jets.npz"
    np.savez(path, **{c: x[:, i] for i, c in enumerate(JETS_FEATURES)}, **{"class": labels})
    check(load_jets(path), x, labels)


def test_npz_matrix_and_integer_labels(tmp_path, table):
    x, labels = table
    path = tmp_path / "jets.npz"
    np.savez(path, data=x, target=np.searchsorted(np.array(JETS_CLASSES), labels),
             feature_names=np.array(JETS_FEATURES))
    check(load_jets(path), x, labels)


@pytest.mark.parametrize("quote", ["", "'"])
def test_arff(tmp_path, table, quote):
    x, labels = table
    lines = ["% OpenML hls4ml_lhc_jets_hlf", "@RELATION hls4ml_lhc_jets_hlf", ""]
    lines += [f"@ATTRIBUTE {c} NUMERIC" for c in JETS_FEATURES]
    lines += ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA", "% rows follow"]
    lines += [",".join(repr(float(v)) for v in row) + f",{quote}{label}{quote}" for row, label in zip(x, labels)]
    path = tmp_path / "jets.arff"
    path.write_text("\n".join(lines) + "\n")
    check(load_jets(path), x, labels)


def test_parquet(tmp_path, table):
    x, labels = table
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({c: x[:, i] for i, c in enumerate(JETS_FEATURES)})
    frame["class"] = labels
    path = tmp_path / "jets.parquet"
    try:
        frame.to_parquet(path)
    except ImportError:  # no pyarrow/fastparquet: reading must then fail clearly
        path.write_bytes(b"PAR1")
        with pytest.raises(C4mlError, match="pyarrow"):
            load_jets(path)
        return
    check(load_jets(path), x, labels)


def test_missing_columns(tmp_path, table):
    x, labels = table
    columns = tuple(c for c in JETS_FEATURES if c != "mass_mmdt")
    path = write_csv(tmp_path / "jets.csv", np.delete(x, 14, axis=1), labels, columns + ("class",))
    with pytest.raises(C4mlError, match="missing column.*mass_mmdt.*hls4ml_lhc_jets_hlf"):
        load_jets(path)
    path = write_csv(tmp_path / "nolabel.csv", x, labels, JETS_FEATURES + ("label",))
    with pytest.raises(C4mlError, match="missing column.*class"):
        load_jets(path)


def test_bad_files(tmp_path, table):
    x, labels = table
    with pytest.raises(C4mlError, match="no such file"):
        load_jets(tmp_path / "absent.csv")
    (tmp_path / "jets.h5").write_bytes(b"")
    with pytest.raises(C4mlError, match="unknown format"):
        load_jets(tmp_path / "jets.h5")
    bad = labels.copy()
    bad[3] = "b"
    with pytest.raises(C4mlError, match=r"labels \['b'\]"):
        load_jets(write_csv(tmp_path / "badlabel.csv", x, bad))
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(C4mlError, match="npz must hold"):
        load_jets(tmp_path / "other.npz")
