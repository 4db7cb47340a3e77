"""Datasets and the book's input/target scaling.

The built-in dataset is scikit-learn's handwritten digits (1,797 images of 8×8 pixels with
values 0–16, so 64 inputs), which ships inside the scikit-learn package and so works
offline: ``pip install "tinygrad-edu[digits]"``.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_edu.io import EXCESS_SHOWN_BYTES, Readable, count_bytes, read_into

DIGITS_EXTRA_HINT = 'the digits dataset needs scikit-learn: pip install "tinygrad-edu[digits]"'


def book_inputs(pixels: np.ndarray, max_value: float) -> np.ndarray:
    """The book's input scaling: pixel / max · 0.99 + 0.01, into [0.01, 1.0].

    Zero inputs would kill the weight updates (ΔW is proportional to the input), so the
    book keeps every input above 0.
    """
    inputs = np.array(pixels, dtype=np.float64)  # a copy, scaled in place (no temporaries)
    inputs /= max_value
    inputs *= 0.99
    inputs += 0.01
    return inputs


def book_targets(labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """The book's targets: 0.99 for the label's output node, 0.01 for the others (a sigmoid
    never reaches 0 or 1), one row per label."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"book_targets: labels must be a 1-D integer array, got {labels!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"book_targets: labels must lie in [0, {classes})")
    targets = np.full((labels.size, classes), 0.01)
    targets[np.arange(labels.size), labels] = 0.99
    return targets


@dataclass(frozen=True)
class Split:
    """Train and test parts of a dataset: inputs (rows are samples) and integer labels."""

    train_inputs: np.ndarray
    train_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray


def train_test_split(
    inputs: np.ndarray, labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """A seeded random split: the same seed always gives the same parts."""
    if len(inputs) != len(labels):
        raise ValueError(
            f"train_test_split: {len(inputs)} inputs but {len(labels)} labels; they must match"
        )
    if not 0 < test_fraction < 1:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(inputs))
    test_count = round(len(inputs) * test_fraction)
    test, train = order[:test_count], order[test_count:]
    return Split(inputs[train], labels[train], inputs[test], labels[test])


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8×8 digits, scaled as the book scales MNIST, split 80/20 (seeded)."""
    try:
        from sklearn import datasets
    except ImportError as error:
        raise ImportError(DIGITS_EXTRA_HINT) from error
    digits: Any = datasets.load_digits()
    inputs = book_inputs(digits.data, max_value=16.0)
    return train_test_split(inputs, digits.target.astype(np.int64), test_fraction, seed)


def batches(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, labels) in batches of ``batch_size`` rows (the last may be smaller),
    shuffled by ``rng`` (a Generator or a seed) when given, in order otherwise."""
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be at least 1, got {batch_size}")
    if rng is None:
        order = np.arange(len(inputs))
    else:
        order = np.random.default_rng(rng).permutation(len(inputs))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        yield inputs[chosen], labels[chosen]


# --------------------------------------------------------------------------- MNIST files
#
# Two formats hold MNIST-style images of 0–255 pixels:
# - the book's CSV: one image a line, the label then the pixels (785 fields for 28×28);
# - IDX, the original binary format (MNIST, Fashion-MNIST): images and labels in two files,
#   each a big-endian header (magic 0x0000TTDD: type TT, DD dimensions; then DD sizes as
#   uint32) followed by the values. Only unsigned bytes (TT = 0x08) are used for images and
#   labels.
# Either may be gzipped. The format is read from the content, never from the file name.

GZIP_MAGIC = b"\x1f\x8b"
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: count, rows, columns
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: count
BOOK_PIXELS = 28 * 28
CLASSES = 10
_CSV_CHUNK_BYTES = 1 << 23  # parse the CSV text about 8 MB at a time (bounds the memory)


class DataFileError(ValueError):
    """A data file that cannot be read as it stands. The message names the file and the line
    (CSV) or the byte offset (IDX) of the first problem; ``path``, ``line`` and ``offset``
    hold them for programs."""

    def __init__(
        self, path: str | Path, problem: str, line: int | None = None, offset: int | None = None
    ) -> None:
        self.path, self.line, self.offset = str(path), line, offset
        where = self.path
        if line is not None:
            where += f", line {line}"
        if offset is not None:
            where += f", byte offset {offset}"
        super().__init__(f"{where}: {problem}")


def read_file_bytes(path: str | Path) -> tuple[bytes, bool]:
    """The file's content, gunzipped when it starts with gzip's magic bytes 1f 8b; and
    whether it was gzipped (offsets in errors then count in the decompressed data)."""
    raw = Path(path).read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (OSError, EOFError, zlib.error) as error:
        raise _undecompressable(path, error) from error


def _undecompressable(path: str | Path, error: Exception) -> DataFileError:
    return DataFileError(
        path, f"a gzip file that cannot be decompressed (truncated or damaged): {error}"
    )


class _Gunzipped:
    """A gzip file read as its decompressed content; a damaged one raises DataFileError."""

    def __init__(self, path: str | Path, stream: gzip.GzipFile) -> None:
        self.path, self.stream = path, stream

    def read(self, size: int, /) -> bytes:
        try:
            return self.stream.read(size)
        except (OSError, EOFError, zlib.error) as error:
            raise _undecompressable(self.path, error) from error


@contextlib.contextmanager
def _content(path: str | Path) -> Iterator[tuple[Readable, bool]]:
    """The file's content as a stream, gunzipped as it is read when the file starts with
    gzip's magic bytes; and whether it was gzipped."""
    with open(path, "rb") as file:
        gzipped = file.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        file.seek(0)
        if not gzipped:
            yield file, False
            return
        with gzip.GzipFile(fileobj=file, mode="rb") as stream:
            yield _Gunzipped(path, stream), True


def is_idx(content: bytes) -> bool:
    """IDX files start with two zero bytes; a CSV line starts with a digit."""
    return content[:2] == b"\x00\x00"


@dataclass(frozen=True)
class LabelledImages:
    """Pixels (one image a row, 0–255 as unsigned bytes) and their labels 0–9."""

    pixels: np.ndarray
    labels: np.ndarray
    shape: tuple[int, ...]
    """The shape of one image: (28, 28) from IDX, (pixels,) from a CSV line."""


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes as an array of the header's shape.

    ``expected_magic`` is `IDX_IMAGES_MAGIC` or `IDX_LABELS_MAGIC`; a file with another magic
    number, a header or data cut short, or bytes past the data is refused. The file (a
    gzipped one too) is read in two passes that go no further than the header's size: the
    first counts the bytes after the header without keeping them, the second reads them
    into the array. A decompression bomb is refused after the header's worth.
    """
    header_size = 4 + 4 * (expected_magic & 0xFF)
    with _content(path) as (stream, gzipped):
        shape = _idx_shape(path, stream.read(header_size), gzipped, expected_magic)
        size = math.prod(shape)  # Python integers: three uint32 sizes overflow int64
        present = count_bytes(stream, size + EXCESS_SHOWN_BYTES)
    _check_idx_size(path, shape, header_size + present, gzipped)
    values = np.empty(shape, dtype=np.uint8)
    with _content(path) as (stream, _):
        stream.read(header_size)
        if read_into(stream, values) != size or stream.read(1):
            raise DataFileError(path, "the file changed while it was read; read it again")
    return values


def _idx_shape(
    path: str | Path, header: bytes, gzipped: bool, expected_magic: int
) -> tuple[int, ...]:
    """The sizes an IDX header gives, once its magic number is the one expected."""
    note = " (of the decompressed data)" if gzipped else ""
    dims = expected_magic & 0xFF
    header_size = 4 + 4 * dims
    if len(header) < 4:
        raise DataFileError(
            path,
            f"truncated: {len(header)} bytes, shorter than the 4-byte magic number{note}",
            offset=len(header),
        )
    (magic,) = struct.unpack(">I", header[:4])
    if magic != expected_magic:
        kinds = {IDX_IMAGES_MAGIC: "images", IDX_LABELS_MAGIC: "labels"}
        found = f" (an IDX {kinds[magic]} file)" if magic in kinds else ""
        raise DataFileError(
            path,
            f"wrong magic number 0x{magic:08X}{found}: expected 0x{expected_magic:08X}, an IDX "
            f"{kinds[expected_magic]} file of unsigned bytes with {dims} dimension(s)",
            offset=0,
        )
    if len(header) < header_size:
        raise DataFileError(
            path,
            f"truncated: the header needs {header_size} bytes (magic and {dims} sizes), the "
            f"file ends after {len(header)}{note}",
            offset=len(header),
        )
    return struct.unpack(f">{dims}I", header[4:header_size])


def _check_idx_size(path: str | Path, shape: tuple[int, ...], length: int, gzipped: bool) -> None:
    """Refuse a file whose ``length`` (counted no further than `EXCESS_SHOWN_BYTES` past the
    end the header promises) is not the header's."""
    note = " (of the decompressed data)" if gzipped else ""
    header_size = 4 + 4 * len(shape)
    size = math.prod(shape)
    data_end = header_size + size
    sizes = " × ".join(str(s) for s in shape) + (f" = {size}" if len(shape) > 1 else "")
    if length < data_end:
        raise DataFileError(
            path,
            f"truncated: the header promises {sizes} bytes of data from offset "
            f"{header_size}, so {data_end} bytes in all, but the file ends after "
            f"{length}{note}",
            offset=length,
        )
    if length > data_end:
        excess = f"{length - data_end} bytes"
        if length == data_end + EXCESS_SHOWN_BYTES:
            excess = f"more than {EXCESS_SHOWN_BYTES} bytes (reading stopped there)"
        raise DataFileError(
            path,
            f"{excess} past the end of the data: the header promises {sizes} bytes from "
            f"offset {header_size}, ending at offset {data_end}{note}",
            offset=data_end,
        )


def read_idx_pair(images_path: str | Path, labels_path: str | Path) -> LabelledImages:
    """IDX images and their IDX labels (two files), checked against each other."""
    return _pair(images_path, read_idx(images_path, IDX_IMAGES_MAGIC), labels_path)


def _pair(images_path: str | Path, images: np.ndarray, labels_path: str | Path) -> LabelledImages:
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataFileError(
            labels_path,
            f"{len(labels)} labels, but the images file {images_path} holds {len(images)} "
            "images: the two files must hold the same number",
            offset=4,
        )
    bad = np.flatnonzero(labels >= CLASSES)
    if bad.size:
        first = int(bad[0])
        raise DataFileError(
            labels_path,
            f"label {labels[first]} (of image {first}) is outside 0–{CLASSES - 1}",
            offset=8 + first,
        )
    count, rows, columns = images.shape
    return LabelledImages(
        images.reshape(count, rows * columns), labels.astype(np.int64), (rows, columns)
    )


def _diagnose_csv_line(path: str | Path, number: int, line: bytes, pixels: int) -> None:
    """Raise the DataFileError that says what is wrong with one CSV line (the plain path,
    used once the fast parse has found the first bad line)."""
    text = line.decode("ascii", errors="replace")  # CRLF is normalised before the parse
    fields = text.split(",")
    if len(fields) != pixels + 1:
        raise DataFileError(
            path,
            f"{len(fields)} fields, expected {pixels + 1}: the label then {pixels} pixels",
            line=number,
        )
    for column, field in enumerate(fields, 1):
        what = "the label" if column == 1 else f"pixel {column - 1}"
        if not (field.isascii() and field.isdigit()):
            raise DataFileError(
                path,
                f"field {column} ({what}) is {field!r}, not a whole number",
                line=number,
            )
        value, limit = int(field), CLASSES - 1 if column == 1 else 255
        if value > limit or len(field) > 3:
            raise DataFileError(
                path, f"field {column} ({what}) is {field}, outside 0–{limit}", line=number
            )
    raise AssertionError(f"line {number} of {path} was flagged but looks well-formed")


def _parse_csv_chunk(
    path: str | Path, text: np.ndarray, first_line: int, pixels: int
) -> np.ndarray:
    """Whole lines of CSV (bytes ending in a newline, no carriage returns) as a
    (lines, 1 + pixels) array, every check vectorised and made on every line, so that the
    first bad line is found whatever is wrong with it; that line is then diagnosed by
    `_diagnose_csv_line`. Fields have at most 3 digits (≤ 255), so a field's value is its
    last digit + 10 × the one before + 100 × the one before that."""
    newline = text == ord("\n")
    separator = newline | (text == ord(","))
    ends = np.flatnonzero(separator)  # every field ends at a separator: (fields,)
    line_ends = np.flatnonzero(newline[ends])  # the fields that end a line: (lines,)
    fields_per_line = np.diff(line_ends, prepend=-1)
    line_of_field = np.repeat(np.arange(len(line_ends)), fields_per_line)
    lengths = np.diff(ends, prepend=-1) - 1
    bad_line = fields_per_line != pixels + 1
    bad_line[line_of_field[(lengths == 0) | (lengths > 3)]] = True
    stray = np.flatnonzero(~separator & ((text < ord("0")) | (text > ord("9"))))
    bad_line[np.searchsorted(ends[line_ends], stray)] = True
    # the values, garbage in a field already found bad (its line is flagged anyway); a
    # short field's digits "before" it may lie before the text, hence the clip
    digits = text.astype(np.int16) - ord("0")
    values = digits.take(ends - 1, mode="clip")
    values += np.where(lengths >= 2, 10 * digits.take(ends - 2, mode="clip"), 0)
    values += np.where(lengths >= 3, 100 * digits.take(ends - 3, mode="clip"), 0)
    labels = np.concatenate(([0], line_ends[:-1] + 1))  # each line's first field: (lines,)
    bad_line[line_of_field[values > 255]] = True
    bad_line[values[labels] >= CLASSES] = True
    if not bad_line.any():
        return values.reshape(len(line_ends), pixels + 1)
    first_bad = int(np.argmax(bad_line))
    line_starts = np.concatenate(([0], ends[line_ends] + 1))
    line = text[line_starts[first_bad] : line_starts[first_bad + 1] - 1].tobytes()
    _diagnose_csv_line(path, first_line + first_bad, line, pixels)
    raise AssertionError("unreachable")


def read_csv(path: str | Path, pixels: int = BOOK_PIXELS) -> LabelledImages:
    """The book's CSV format: one image a line, the label (0–9) then ``pixels`` values 0–255,
    separated by commas, no header. Parsed with numpy a few MB at a time; the first bad line
    is reported with its number."""
    content, _ = read_file_bytes(path)
    return _parse_csv(path, content, pixels)


def _parse_csv(path: str | Path, content: bytes, pixels: int) -> LabelledImages:
    if not content.strip():
        raise DataFileError(path, "the file is empty: expected one image a line")
    text = np.frombuffer(content.replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n", dtype=np.uint8)
    newlines = np.flatnonzero(text == ord("\n"))
    tables, line, start = [], 1, 0
    while start < len(text):
        # end the chunk at the last newline within _CSV_CHUNK_BYTES of its start
        last = int(np.searchsorted(newlines, start + _CSV_CHUNK_BYTES, side="right")) - 1
        if last < 0 or newlines[last] < start:  # one line longer than a chunk
            last = int(np.searchsorted(newlines, start))
        end = int(newlines[last]) + 1
        table = _parse_csv_chunk(path, text[start:end], line, pixels)
        tables.append(table)
        line += len(table)
        start = end
    table = np.concatenate(tables)
    return LabelledImages(table[:, 1:].astype(np.uint8), table[:, 0].astype(np.int64), (pixels,))


def find_labels_file(images_path: str | Path) -> Path:
    """The IDX labels file beside an images file, by the standard names: 'images' becomes
    'labels' and 'idx3' becomes 'idx1' in the name (train-images-idx3-ubyte.gz →
    train-labels-idx1-ubyte.gz), gzipped or not."""
    images_path = Path(images_path)
    name = images_path.name
    if "images" not in name:
        raise DataFileError(
            images_path,
            "an IDX images file whose labels cannot be found by name (the name has no "
            "'images' to replace by 'labels'): give the labels file as well",
        )
    stem = name.replace("images", "labels").replace("idx3", "idx1").removesuffix(".gz")
    candidates = [images_path.with_name(stem), images_path.with_name(stem + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = " or ".join(str(c) for c in candidates)
    raise DataFileError(
        images_path, f"an IDX images file, but its labels file ({tried}) is not there: give it"
    )


def read_images(path: str | Path, labels_path: str | Path | None = None) -> LabelledImages:
    """Images and labels from the book's CSV or IDX files, told apart by content (gzipped or
    not). IDX labels come from ``labels_path`` or, when it is not given, from the file beside
    the images with the standard name (`find_labels_file`)."""
    with _content(path) as (stream, _):
        idx = is_idx(stream.read(2))
    if not idx:
        if labels_path is not None:
            raise DataFileError(
                path,
                f"a CSV file carries its own labels, so a labels file ({labels_path}) is only "
                "for IDX images",
            )
        return read_csv(path, BOOK_PIXELS)
    images = read_idx(path, IDX_IMAGES_MAGIC)
    if len(images) == 0:
        raise DataFileError(path, "the file holds no images", offset=4)
    return _pair(path, images, labels_path if labels_path is not None else find_labels_file(path))


def load_files(
    train: str | Path,
    test: str | Path,
    train_labels: str | Path | None = None,
    test_labels: str | Path | None = None,
) -> Split:
    """The train and test files (CSV or IDX, see `read_images`) as a `Split`, scaled as the
    book scales them (pixel / 255 · 0.99 + 0.01)."""
    train_part = read_images(train, train_labels)
    test_part = read_images(test, test_labels)
    if train_part.pixels.shape[1] != test_part.pixels.shape[1]:
        raise DataFileError(
            test,
            f"images of {test_part.pixels.shape[1]} pixels, but the training images "
            f"({train}) have {train_part.pixels.shape[1]}",
        )
    return Split(
        book_inputs(train_part.pixels, 255.0),
        train_part.labels,
        book_inputs(test_part.pixels, 255.0),
        test_part.labels,
    )
