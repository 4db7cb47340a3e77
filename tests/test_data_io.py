"""The digits data, the book's scaling, batching, and saving/loading weights."""

import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import io as weights_io
from tinygrad_edu import nn
from tinygrad_edu.data import (
    batches,
    book_inputs,
    book_targets,
    load_digits,
    train_test_split,
)

# --------------------------------------------------------------------------- scaling


def test_book_inputs_map_0_to_0_01_and_the_maximum_to_1():
    # pixel / 16 · 0.99 + 0.01: 0 → 0.01, 8 → 0.505, 16 → 1.0 (by hand)
    np.testing.assert_allclose(book_inputs(np.array([0, 8, 16]), 16.0), [0.01, 0.505, 1.0])


def test_book_targets_are_0_99_at_the_label_and_0_01_elsewhere():
    targets = book_targets(np.array([2, 0]), classes=3)
    np.testing.assert_array_equal(targets, [[0.01, 0.01, 0.99], [0.99, 0.01, 0.01]])


@pytest.mark.parametrize(
    "labels", [np.array([0.5]), np.array([[1]]), np.array([10]), np.array([-1])]
)
def test_book_targets_reject_labels_that_are_not_classes(labels):
    with pytest.raises(ValueError, match="labels"):
        book_targets(labels, classes=10)


# --------------------------------------------------------------------------- split and batches


@given(n=st.integers(5, 200), seed=st.integers(0, 2**32 - 1))
def test_split_is_a_seeded_80_20_partition(n, seed):
    inputs = np.arange(n, dtype=float).reshape(n, 1)
    labels = np.arange(n)
    split = train_test_split(inputs, labels, 0.2, seed)
    assert len(split.test_labels) == round(0.2 * n)
    together = np.concatenate([split.train_labels, split.test_labels])
    np.testing.assert_array_equal(np.sort(together), labels)  # every sample exactly once
    np.testing.assert_array_equal(split.train_inputs[:, 0], split.train_labels)  # rows stay paired
    again = train_test_split(inputs, labels, 0.2, seed)
    np.testing.assert_array_equal(again.test_labels, split.test_labels)


def test_split_rejects_mismatched_lengths_and_bad_fractions():
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        train_test_split(np.zeros((3, 1)), np.zeros(2), 0.2)
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(np.zeros((3, 1)), np.zeros(3), 1.0)


@given(n=st.integers(1, 50), batch_size=st.integers(1, 60), shuffle=st.booleans())
def test_batches_cover_every_row_once_in_batches_of_the_size(n, batch_size, shuffle):
    inputs = np.arange(n, dtype=float).reshape(n, 1)
    labels = np.arange(n)
    rng = np.random.default_rng(0) if shuffle else None
    parts = list(batches(inputs, labels, batch_size, rng))
    assert all(len(x) == batch_size for x, _ in parts[:-1])
    assert 1 <= len(parts[-1][0]) <= batch_size
    seen = np.concatenate([y for _, y in parts])
    np.testing.assert_array_equal(np.sort(seen), labels)
    for x, y in parts:
        np.testing.assert_array_equal(x[:, 0], y)
    if not shuffle:
        np.testing.assert_array_equal(seen, labels)


def test_batches_shuffle_reproducibly_with_the_same_seed():
    inputs, labels = np.zeros((20, 1)), np.arange(20)
    first = [y for _, y in batches(inputs, labels, 4, np.random.default_rng(7))]
    second = [y for _, y in batches(inputs, labels, 4, np.random.default_rng(7))]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))
    assert not np.array_equal(np.concatenate(first), labels)


def test_batches_reject_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(np.zeros((2, 1)), np.zeros(2), 0))


# --------------------------------------------------------------------------- digits


def test_digits_are_1797_scaled_8x8_images_split_80_20():
    split = load_digits()
    assert split.train_inputs.shape[1] == 64
    assert len(split.train_inputs) + len(split.test_inputs) == 1797
    assert len(split.test_inputs) == round(0.2 * 1797)
    everything = np.concatenate([split.train_inputs, split.test_inputs])
    assert everything.min() == pytest.approx(0.01) and everything.max() == pytest.approx(1.0)
    assert set(np.unique(split.test_labels)) == set(range(10))


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    with pytest.raises(ImportError, match=r"tinygrad-edu\[digits\]"):
        load_digits()


# --------------------------------------------------------------------------- save / load


def test_save_and_load_round_trip_a_module(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.Sigmoid(), nn.Linear(2, 1, rng=1))
    path = weights_io.save(model, tmp_path / "weights")
    assert path.suffix == ".npz"
    loaded = weights_io.load(path)
    assert sorted(loaded) == sorted(name for name, _ in model.named_parameters())
    for name, tensor in model.named_parameters():
        np.testing.assert_array_equal(loaded[name], tensor.data)
        assert loaded[name].dtype == tensor.dtype


def test_save_and_load_a_dict_of_arrays(tmp_path):
    state = {"a": np.arange(3.0), "b": np.eye(2, dtype=np.float32)}
    loaded = weights_io.load(weights_io.save(state, tmp_path / "s.npz"))
    for name, array in state.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype


def test_load_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(weights_io.LoadError, match="no weight file"):
        weights_io.load(tmp_path / "nothing.npz")


def test_load_of_a_truncated_file_says_so(tmp_path):
    path = weights_io.save({"w": np.ones((50, 50))}, tmp_path / "w.npz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        weights_io.load(path)


def test_load_of_a_file_that_is_no_archive_says_so(tmp_path):
    path = tmp_path / "w.npz"
    path.write_text("not weights")
    with pytest.raises(ValueError, match=r"not a \.npz archive"):
        weights_io.load(path)


def test_load_refuses_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([{"a": 1}], dtype=object))  # written with pickle inside
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["w.npy"]
    with pytest.raises(ValueError, match="object arrays"):
        weights_io.load(path)


def test_save_refuses_what_is_not_numeric(tmp_path):
    with pytest.raises(TypeError, match="numeric"):
        weights_io.save({"w": np.array(["a"])}, tmp_path / "w.npz")
    with pytest.raises(TypeError, match="Module or a dict"):
        weights_io.save([1, 2], tmp_path / "w.npz")


def test_keys_that_np_savez_would_misread_are_saved_too(tmp_path):
    state = {"file": np.arange(2.0), "allow_pickle": np.ones(3)}
    loaded = weights_io.load(weights_io.save(state, tmp_path / "w.npz"))
    assert sorted(loaded) == ["allow_pickle", "file"]
    np.testing.assert_array_equal(loaded["file"], [0.0, 1.0])


def test_a_zip_of_other_files_is_not_a_weight_file(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not arrays"):
        weights_io.load(path)
