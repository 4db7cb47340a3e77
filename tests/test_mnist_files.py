"""MNIST-style files: the book's CSV and the IDX format, gzipped or not, their errors, the
train/evaluate commands on them, and the real Fashion-MNIST files where installed.

The files are written here by hand (string joins, struct.pack), independently of the
loader, from the 8×8 digits upscaled to 28×28.
"""

import gzip
import re
import struct
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from references import peak_memory, write_then_zeros

from tinygrad_edu import data, training
from tinygrad_edu import io as weights_io
from tinygrad_edu.cli import main
from tinygrad_edu.data import (
    DataFileError,
    Split,
    find_labels_file,
    load_files,
    read_csv,
    read_idx,
    read_images,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")
IMAGES_MAGIC, LABELS_MAGIC = 0x803, 0x801

# --------------------------------------------------------------------------- writing files


@pytest.fixture(scope="module")
def digits28():
    """The 8×8 digits (0–16) as 28×28 images of 0–255: each pixel a 3×3 block, a 2-pixel
    border of zeros, values × 255/16 rounded. Returns (pixels (n, 784) uint8, labels)."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    small = digits.images.astype(np.float64)  # (n, 8, 8)
    big = np.kron(small, np.ones((3, 3)))  # (n, 24, 24)
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))  # (n, 28, 28)
    pixels = np.rint(big * 255 / 16).astype(np.uint8).reshape(len(small), 784)
    return pixels, digits.target.astype(np.int64)


def csv_text(labels, pixels) -> str:
    return "".join(
        ",".join([str(label), *(str(p) for p in row)]) + "\n"
        for label, row in zip(labels, pixels, strict=True)
    )


def save(path: Path, content: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def idx_bytes(values: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in values.shape)
    return header + values.astype(np.uint8).tobytes()


def write_idx_pair(folder: Path, prefix: str, images, labels, gz: bool) -> tuple[Path, Path]:
    """IDX files with the standard names: <prefix>-images-idx3-ubyte and -labels-idx1-ubyte."""
    images_path = save(
        folder / f"{prefix}-images-idx3-ubyte",
        idx_bytes(np.asarray(images).reshape(-1, 28, 28), IMAGES_MAGIC),
        gz,
    )
    labels_path = save(folder / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels, LABELS_MAGIC), gz)
    return images_path, labels_path


def small_image_file(tmp_path, digits28, kind: str, gz: bool = False, count: int = 12) -> Path:
    pixels, labels = digits28[0][:count], digits28[1][:count]
    if kind == "csv":
        return save(tmp_path / "small.csv", csv_text(labels, pixels).encode(), gz)
    return write_idx_pair(tmp_path, "small", pixels, labels, gz)[0]


# --------------------------------------------------------------------------- reading good files


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_csv_reads_back_the_labels_and_pixels_written(tmp_path, digits28, gz):
    pixels, labels = digits28[0][:50], digits28[1][:50]
    path = save(tmp_path / "digits.csv", csv_text(labels, pixels).encode(), gz)
    read = read_csv(path)
    np.testing.assert_array_equal(read.pixels, pixels)
    np.testing.assert_array_equal(read.labels, labels)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_reads_back_images_and_labels_found_beside_them(tmp_path, digits28, gz):
    pixels, labels = digits28[0][:50], digits28[1][:50]
    images_path, labels_path = write_idx_pair(tmp_path, "train", pixels, labels, gz)
    assert find_labels_file(images_path) == labels_path
    read = read_images(images_path)
    assert read.shape == (28, 28)
    np.testing.assert_array_equal(read.pixels, pixels)
    np.testing.assert_array_equal(read.labels, labels)


def test_idx_labels_may_be_given_under_any_name(tmp_path, digits28):
    pixels, labels = digits28[0][:5], digits28[1][:5]
    images = save(tmp_path / "pictures.bin", idx_bytes(pixels.reshape(-1, 28, 28), 0x803), False)
    answers = save(tmp_path / "answers.bin", idx_bytes(labels, 0x801), True)
    np.testing.assert_array_equal(read_images(images, answers).labels, labels)


def test_the_format_comes_from_the_content_not_the_name(tmp_path, digits28):
    pixels, labels = digits28[0][:20], digits28[1][:20]
    csv_named_idx = save(
        tmp_path / "data-images-idx3-ubyte", csv_text(labels, pixels).encode(), False
    )
    idx_images, _ = write_idx_pair(tmp_path / "", "looks.csv", pixels, labels, gz=True)
    from_csv, from_idx = read_images(csv_named_idx), read_images(idx_images)
    np.testing.assert_array_equal(from_csv.pixels, from_idx.pixels)
    np.testing.assert_array_equal(from_csv.labels, from_idx.labels)


def test_csv_accepts_windows_line_ends_and_a_missing_final_newline(tmp_path, digits28):
    pixels, labels = digits28[0][:4], digits28[1][:4]
    text = csv_text(labels, pixels).replace("\n", "\r\n").rstrip("\r\n")
    read = read_csv(save(tmp_path / "crlf.csv", text.encode(), False))
    np.testing.assert_array_equal(read.pixels, pixels)


def test_csv_parsed_in_small_chunks_reads_the_same(tmp_path, digits28, monkeypatch):
    pixels, labels = digits28[0][:30], digits28[1][:30]
    path = save(tmp_path / "digits.csv", csv_text(labels, pixels).encode(), False)
    monkeypatch.setattr(data, "_CSV_CHUNK_BYTES", 5000)  # a line is ~1,500-3,000 bytes
    read = read_csv(path)
    np.testing.assert_array_equal(read.pixels, pixels)
    np.testing.assert_array_equal(read.labels, labels)


@given(
    count=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    chunk=st.integers(1, 20_000),
    gz=st.booleans(),
)
def test_random_images_read_back_exactly_from_csv_and_idx_for_any_chunk_size(
    count, seed, chunk, gz
):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (count, 784))
    labels = rng.integers(0, 10, count)
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.object(data, "_CSV_CHUNK_BYTES", chunk),
    ):
        csv_path = save(Path(folder) / "r.csv", csv_text(labels, pixels).encode(), gz)
        idx_images, _ = write_idx_pair(Path(folder), "r", pixels, labels, gz)
        for read in (read_images(csv_path), read_images(idx_images)):
            np.testing.assert_array_equal(read.pixels, pixels)
            np.testing.assert_array_equal(read.labels, labels)


def test_csv_fields_of_one_two_and_three_digits_with_leading_zeros(tmp_path):
    line = "7," + ",".join(["0", "9", "10", "99", "100", "255", "007", "08"] * 98) + "\n"
    read = read_csv(save(tmp_path / "numbers.csv", line.encode(), False))
    assert read.labels.tolist() == [7]
    assert read.pixels[0, :8].tolist() == [0, 9, 10, 99, 100, 255, 7, 8]


def test_load_files_gives_a_split_scaled_as_the_book_scales(tmp_path, digits28):
    pixels, labels = digits28[0][:40], digits28[1][:40]
    train = save(tmp_path / "train.csv", csv_text(labels[:30], pixels[:30]).encode(), True)
    test_images, _ = write_idx_pair(tmp_path, "t10k", pixels[30:], labels[30:], gz=False)
    split = load_files(train, test_images)
    assert isinstance(split, Split)
    # x/255·0.99 + 0.01 by hand: 0 → 0.01, 255 → 1.0, 128 → 126.72/255 + 0.01 = 0.506941
    expected = {0: 0.01, 255: 1.0, 128: 0.506941}
    for pixel, value in expected.items():
        assert pixel in pixels[:30]
        np.testing.assert_allclose(split.train_inputs[pixels[:30] == pixel], value, atol=1e-6)
    np.testing.assert_allclose(split.test_inputs, pixels[30:] / 255 * 0.99 + 0.01)
    np.testing.assert_array_equal(split.train_labels, labels[:30])
    np.testing.assert_array_equal(split.test_labels, labels[30:])


# --------------------------------------------------------------------------- bad files


def good_lines(count: int = 6) -> list[str]:
    return [
        f"{i % 10}," + ",".join(str((i * 7 + j) % 256) for j in range(784)) for i in range(count)
    ]


def with_line(number: int, fields: list[str] | None = None, text: str | None = None) -> str:
    lines = good_lines()
    if text is None:
        assert fields is not None
        row = lines[number - 1].split(",")
        for column, value in enumerate(fields):
            if value is not None:
                row[column] = value
        text = ",".join(row)
    lines[number - 1] = text
    return "\n".join(lines) + "\n"


BAD_CSV = {
    "too few columns": (with_line(3, text="1,2,3"), 3, r"3 fields, expected 785"),
    "too many columns": (with_line(2, text=good_lines()[1] + ",0"), 2, "786 fields, expected 785"),
    "a blank line": (with_line(4, text=""), 4, "1 fields, expected 785"),
    "non-numeric pixel": (with_line(5, [None, None, "x7"]), 5, r"field 3 \(pixel 2\) is 'x7'"),
    "negative pixel": (with_line(2, [None, "-1"]), 2, r"field 2 \(pixel 1\) is '-1', not a whole"),
    "decimal pixel": (
        with_line(2, [None, "1.5"]),
        2,
        r"field 2 \(pixel 1\) is '1\.5', not a whole number",
    ),
    "empty field": (with_line(6, [None, None, ""]), 6, r"field 3 \(pixel 2\) is ''"),
    "a header line": (with_line(1, text="label,pixel0"), 1, "2 fields"),
    "pixel above 255": (
        with_line(3, [None, None, None, "256"]),
        3,
        r"field 4 \(pixel 3\) is 256, outside 0–255",
    ),
    "pixel of 4 digits": (
        with_line(3, [None, "1000"]),
        3,
        r"field 2 \(pixel 1\) is 1000, outside 0–255",
    ),
    "label above 9": (with_line(4, ["10"]), 4, r"field 1 \(the label\) is 10, outside 0–9"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", list(BAD_CSV))
def test_a_bad_csv_line_is_named_with_its_file_and_line(tmp_path, case, gz):
    text, line, problem = BAD_CSV[case]
    path = save(tmp_path / "bad.csv", text.encode(), gz)
    with pytest.raises(DataFileError, match=re.escape(f"{path}, line {line}: ") + problem) as info:
        read_images(path)
    assert isinstance(info.value, ValueError)
    assert (info.value.path, info.value.line) == (str(path), line)


def with_field(line: str, column: int, value: str) -> str:
    fields = line.split(",")
    fields[column] = value
    return ",".join(fields)


LINE_FAULTS = {
    # name: (a good line made bad, the message for it)
    "label 10": (lambda line: with_field(line, 0, "10"), r"field 1 \(the label\) is 10, "),
    "pixel 256": (lambda line: with_field(line, 1, "256"), r"field 2 \(pixel 1\) is 256, "),
    "786 fields": (lambda line: line + ",0", "786 fields, expected 785"),
    "3 fields": (lambda line: "1,2,3", "3 fields, expected 785"),
    "letter": (lambda line: with_field(line, 1, "x7"), r"field 2 \(pixel 1\) is 'x7'"),
    "empty field": (lambda line: with_field(line, 1, ""), r"field 2 \(pixel 1\) is ''"),
}


@pytest.mark.parametrize("later", list(LINE_FAULTS))
@pytest.mark.parametrize("first", list(LINE_FAULTS))
@pytest.mark.parametrize(("first_line", "later_line"), [(1, 2), (2, 6)])
def test_the_first_bad_line_is_named_whatever_is_wrong_with_the_later_one(
    tmp_path, first, later, first_line, later_line
):
    lines = good_lines()
    for number, fault in ((first_line, first), (later_line, later)):
        lines[number - 1] = LINE_FAULTS[fault][0](lines[number - 1])
    path = save(tmp_path / "bad.csv", ("\n".join(lines) + "\n").encode(), False)
    problem = LINE_FAULTS[first][1]
    with pytest.raises(DataFileError, match=re.escape(f"{path}, line {first_line}: ") + problem):
        read_images(path)


def is_good_line(line: str) -> bool:
    """The format, written again independently: a label 0–9 then 784 pixels 0–255."""
    fields = line.split(",")
    return (
        len(fields) == 785
        and all(re.fullmatch(r"[0-9]{1,3}", field) for field in fields)
        and int(fields[0]) <= 9
        and all(int(field) <= 255 for field in fields[1:])
    )


@given(
    edits=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 800), st.sampled_from(list("0123456789,x-\n"))),
        min_size=1,
        max_size=4,
    ),
    chunk=st.sampled_from([800, 4000, data._CSV_CHUNK_BYTES]),
)
@example(
    edits=[(0, 785, "9"), (1, 2, ",")], chunk=data._CSV_CHUNK_BYTES
)  # label 99, then 788 fields
def test_a_mutated_csv_is_refused_at_its_first_bad_line(edits, chunk):
    lines = good_lines()
    for line, field, character in edits:  # one field of one line overwritten
        fields = lines[line].split(",")
        fields[field % len(fields)] = character * (1 + field % 4)
        lines[line] = ",".join(fields)
    text = "\n".join(lines) + "\n"
    first_bad = next(
        (n for n, line in enumerate(text.rstrip("\n").split("\n"), 1) if not is_good_line(line)),
        None,
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.object(data, "_CSV_CHUNK_BYTES", chunk),
    ):
        path = save(Path(folder) / "mutated.csv", text.encode(), False)
        if first_bad is None:
            assert len(read_csv(path).labels) == len(text.rstrip("\n").split("\n"))
        else:
            with pytest.raises(DataFileError) as info:
                read_csv(path)
            assert info.value.line == first_bad, str(info.value)


def test_a_bad_line_in_a_later_chunk_keeps_its_line_number(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CSV_CHUNK_BYTES", 4000)
    lines = good_lines() * 3
    lines[13] = lines[13].replace(",", ",300,", 1)
    path = save(tmp_path / "bad.csv", ("\n".join(lines) + "\n").encode(), False)
    with pytest.raises(DataFileError, match=r"bad.csv, line 14: 786 fields"):
        read_csv(path)


@pytest.mark.parametrize("bad", ["", "7", "77"], ids=["blank", "1-digit", "2-digit"])
def test_a_short_line_that_is_a_chunk_of_its_own_is_named(tmp_path, monkeypatch, bad):
    good = good_lines(1)[0]
    monkeypatch.setattr(data, "_CSV_CHUNK_BYTES", len(good))  # a chunk ends after each line
    path = save(tmp_path / "bad.csv", f"{good}\n{bad}\n{good}\n".encode(), False)
    with pytest.raises(DataFileError, match=r"bad\.csv, line 2: 1 fields, expected 785"):
        read_csv(path)


def test_an_empty_csv_is_refused(tmp_path):
    with pytest.raises(DataFileError, match=r"empty\.csv: the file is empty"):
        read_csv(save(tmp_path / "empty.csv", b"\n", False))


def idx_cases(digits28):
    pixels, labels = digits28[0][:6], digits28[1][:6]
    images, good_labels = idx_bytes(pixels.reshape(-1, 28, 28), 0x803), idx_bytes(labels, 0x801)
    out_of_range = bytearray(good_labels)
    out_of_range[8 + 3] = 10
    return {
        # name: (images bytes, labels bytes, the file named, offset, message)
        "labels magic in the images file": (
            good_labels,
            good_labels,
            "images",
            0,
            "wrong magic number 0x00000801 .*expected 0x00000803",
        ),
        "float type in the labels file": (
            images,
            b"\x00\x00\x0d\x01" + good_labels[4:],
            "labels",
            0,
            "wrong magic number 0x00000D01",
        ),
        "images cut short": (
            images[:-5],
            good_labels,
            "images",
            len(images) - 5,
            r"truncated: the header promises 6 × 28 × 28",
        ),
        "header cut short": (
            images[:10],
            good_labels,
            "images",
            10,
            "truncated: the header needs 16 bytes",
        ),
        "magic cut short": (
            images[:3],
            good_labels,
            "images",
            3,
            "truncated: 3 bytes, shorter than the 4-byte magic",
        ),
        "labels cut short": (images, good_labels[:-1], "labels", len(good_labels) - 1, "truncated"),
        "bytes past the data": (
            images + b"\x00\x00",
            good_labels,
            "images",
            len(images),
            "2 bytes past the end",
        ),
        "fewer labels than images": (
            images,
            idx_bytes(labels[:5], 0x801),
            "labels",
            4,
            "5 labels, but the images file .* holds 6 images",
        ),
        "label above 9": (
            images,
            bytes(out_of_range),
            "labels",
            11,
            r"label 10 \(of image 3\) is outside 0–9",
        ),
    }


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    "case",
    [
        "labels magic in the images file",
        "float type in the labels file",
        "images cut short",
        "header cut short",
        "magic cut short",
        "labels cut short",
        "bytes past the data",
        "fewer labels than images",
        "label above 9",
    ],
)
def test_a_bad_idx_file_is_named_with_its_byte_offset(tmp_path, digits28, case, gz):
    images, labels, culprit, offset, problem = idx_cases(digits28)[case]
    images_path = save(tmp_path / "train-images-idx3-ubyte", images, gz)
    labels_path = save(tmp_path / "train-labels-idx1-ubyte", labels, gz)
    named = images_path if culprit == "images" else labels_path
    with pytest.raises(
        DataFileError, match=re.escape(f"{named}, byte offset {offset}: ") + problem
    ) as info:
        read_images(images_path)
    assert (info.value.path, info.value.offset) == (str(named), offset)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("shape", "data", "product"),
    [
        ((2**31, 2**31, 4), b"", 2**64),  # 0 in int64
        ((2**32 - 1, 2**32 - 1, 1), b"\0" * 8, (2**32 - 1) ** 2),  # negative in int64
        ((2**32 - 1,) * 3, b"\0" * 8, (2**32 - 1) ** 3),
    ],
    ids=["wraps-to-0", "wraps-negative", "largest"],
)
def test_idx_sizes_beyond_int64_are_named_exactly(tmp_path, shape, data, product, gz):
    content = struct.pack(">4I", IMAGES_MAGIC, *shape) + data
    path = save(tmp_path / "train-images-idx3-ubyte", content, gz)
    sizes = " × ".join(map(str, shape))
    with pytest.raises(DataFileError) as info:
        read_images(path)
    message = str(info.value).removeprefix(str(path))
    assert f"byte offset {len(content)}: truncated: the header promises {sizes} = {product} " in (
        message
    )
    assert f"so {16 + product} bytes in all, but the file ends after {len(content)}" in message
    assert not re.search(r"-\d", message)  # no negative byte counts or offsets


MIB = 1 << 20


def gzip_bomb(path: Path, header: bytes, zeros: int) -> Path:
    """``header``, then ``zeros`` zero bytes, gzipped (1 MiB ≈ 1 KiB on disk)."""
    with gzip.open(path, "wb", compresslevel=9) as file:
        write_then_zeros(file, header, zeros)
    return path


IDX_BOMBS = {
    # name: (the bomb's header, which file it is, the error)
    "one image, then 64 MiB": (
        struct.pack(">4I", IMAGES_MAGIC, 1, 28, 28),
        "images",
        r"byte offset 800: more than 65536 bytes \(reading stopped there\) past the end of "
        r"the data: the header promises 1 × 28 × 28 = 784 bytes from offset 16",
    ),
    "2**32 - 1 images, 64 MiB of them": (
        struct.pack(">4I", IMAGES_MAGIC, 2**32 - 1, 28, 28),
        "images",
        rf"byte offset {16 + 64 * MIB}: truncated: the header promises 4294967295 × 28 × 28",
    ),
    "one label, then 64 MiB": (
        struct.pack(">2I", LABELS_MAGIC, 1),
        "labels",
        r"byte offset 9: more than 65536 bytes \(reading stopped there\) past the end",
    ),
}


@pytest.mark.parametrize("case", list(IDX_BOMBS))
def test_a_gzip_bomb_is_refused_without_holding_what_it_inflates_to(tmp_path, case):
    """64 MiB of zeros after the header, 64 KiB on disk: the header is checked, and the file
    decompressed no further than its promise, at most 1 MiB of it held at a time."""
    header, culprit, message = IDX_BOMBS[case]
    images = struct.pack(">4I", IMAGES_MAGIC, 1, 28, 28) + bytes(784)
    labels = struct.pack(">2I", LABELS_MAGIC, 1) + bytes(1)
    bomb = gzip_bomb(tmp_path / f"train-{culprit}-idx.gz", header, zeros=64 * MIB)
    assert bomb.stat().st_size < 100_000
    images_path = bomb if culprit == "images" else save(tmp_path / "train-images-idx", images, True)
    labels_path = bomb if culprit == "labels" else save(tmp_path / "train-labels-idx", labels, True)

    raised = []

    def read():
        with pytest.raises(DataFileError) as info:
            read_images(images_path, labels_path)
        raised.append(str(info.value))

    assert peak_memory(read) < 8 * MIB  # it was 141 MiB: the whole file decompressed, twice
    assert re.match(re.escape(str(bomb)) + ", " + message, raised[0]), raised[0]


def test_a_truncated_gzip_file_is_named(tmp_path, digits28):
    images_path, _ = write_idx_pair(tmp_path, "train", digits28[0][:6], digits28[1][:6], gz=True)
    images_path.write_bytes(images_path.read_bytes()[:-20])
    with pytest.raises(
        DataFileError, match=re.escape(str(images_path)) + ": a gzip file that cannot"
    ):
        read_images(images_path)


def test_read_idx_checks_the_kind_of_file_asked_for(tmp_path, digits28):
    _, labels_path = write_idx_pair(tmp_path, "train", digits28[0][:3], digits28[1][:3], gz=False)
    assert read_idx(labels_path, data.IDX_LABELS_MAGIC).tolist() == digits28[1][:3].tolist()
    with pytest.raises(DataFileError, match=r"\(an IDX labels file\): expected 0x00000803"):
        read_idx(labels_path, data.IDX_IMAGES_MAGIC)


def test_idx_images_without_their_labels_file_say_what_was_looked_for(tmp_path, digits28):
    images_path, labels_path = write_idx_pair(
        tmp_path, "t10k", digits28[0][:3], digits28[1][:3], True
    )
    labels_path.unlink()
    with pytest.raises(
        DataFileError, match=r"t10k-labels-idx1-ubyte or .*t10k-labels-idx1-ubyte\.gz"
    ):
        read_images(images_path)
    renamed = images_path.rename(tmp_path / "pictures.gz")
    with pytest.raises(DataFileError, match="no 'images' to replace by 'labels'"):
        read_images(renamed)


def test_a_labels_file_for_a_csv_is_refused(tmp_path, digits28):
    csv_path = small_image_file(tmp_path, digits28, "csv")
    with pytest.raises(DataFileError, match="a CSV file carries its own labels"):
        read_images(csv_path, tmp_path / "labels")


def test_train_and_test_images_of_different_sizes_are_refused(tmp_path, digits28):
    train = small_image_file(tmp_path, digits28, "idx")
    small = save(tmp_path / "s-images-idx3-ubyte", idx_bytes(np.zeros((2, 5, 5)), 0x803), False)
    save(tmp_path / "s-labels-idx1-ubyte", idx_bytes(np.zeros(2), 0x801), False)
    with pytest.raises(DataFileError, match="images of 25 pixels, but the training images"):
        load_files(train, small)


# --------------------------------------------------------------------------- the commands


def numpy_accuracy(weights_path: Path, pixels: np.ndarray, labels: np.ndarray) -> float:
    """The saved network's accuracy, computed here with plain numpy (no library code)."""
    with np.load(weights_path) as saved:
        w_ih, w_ho = saved["0.weight"], saved["2.weight"]
    x = pixels / 255 * 0.99 + 0.01

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    outputs = sigmoid(sigmoid(x @ w_ih.T) @ w_ho.T)
    return float(np.mean(outputs.argmax(axis=1) == labels))


def test_train_on_files_uses_the_books_settings_and_learns(tmp_path, digits28, capsys):
    pixels, labels = digits28
    train = save(tmp_path / "mnist_train.csv", csv_text(labels[:300], pixels[:300]).encode(), False)
    test_images, _ = write_idx_pair(tmp_path, "t10k", pixels[1500:1700], labels[1500:1700], True)
    out = tmp_path / "w.npz"
    args = ["train", "--train-data", str(train), "--test-data", str(test_images)]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "network 784-200-10" in printed and "on 300 images" in printed
    assert "lr 0.1, 5 epochs, batch size 1" in printed  # the book's settings
    assert len(re.findall(r"epoch +\d/5 ", printed)) == 5
    accuracy = numpy_accuracy(out, pixels[1500:1700], labels[1500:1700])
    assert accuracy > 0.6  # chance is 0.1
    assert f"test accuracy {accuracy:.4f}" in printed

    assert main(["evaluate", str(out), "--test-data", str(test_images)]) == 0
    assert f"test accuracy {accuracy:.4f} on 200 images" in capsys.readouterr().out


def test_train_with_a_bad_test_file_fails_before_training(tmp_path, digits28, capsys):
    train = small_image_file(tmp_path, digits28, "csv")
    bad = save(tmp_path / "bad.csv", with_line(2, ["11"]).encode(), False)
    out = tmp_path / "w.npz"
    command = ["train", "--train-data", str(train), "--test-data", str(bad), "--out", str(out)]
    assert main(command) == 1
    captured = capsys.readouterr()
    assert f"{bad}, line 2: field 1 (the label) is 11" in captured.err
    assert "epoch" not in captured.out and not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--train-data", "a.csv"], "--train-data and --test-data go together"),
        (["--test-data", "a.csv"], "--train-data and --test-data go together"),
        (["--train-labels", "l"], "--train-labels goes with --train-data"),
    ],
)
def test_train_refuses_data_options_that_do_not_go_together(options, message, capsys):
    with pytest.raises(SystemExit) as refused:  # a usage error, before any work
        main(["train", *options])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tinygrad-edu train ") and message in err


def test_evaluate_refuses_weights_of_another_input_size(tmp_path, digits28, capsys):
    weights = weights_io.save(training.book_network(64, 5, 10, rng=0), tmp_path / "digits.npz")
    test = small_image_file(tmp_path, digits28, "idx", gz=True)
    assert main(["evaluate", str(weights), "--test-data", str(test)]) == 1
    assert "holds a 64-5-10 network; the data needs 784 inputs" in capsys.readouterr().err


def test_evaluate_takes_a_labels_file_under_any_name(tmp_path, digits28, capsys):
    pixels, labels = digits28[0][:20], digits28[1][:20]
    images = save(tmp_path / "pictures", idx_bytes(pixels.reshape(-1, 28, 28), 0x803), True)
    answers = save(tmp_path / "answers", idx_bytes(labels, 0x801), False)
    model = training.book_network(784, 8, 10, rng=0)
    weights = weights_io.save(model, tmp_path / "w.npz")
    command = ["evaluate", str(weights), "--test-data", str(images)]
    assert main(command) == 1  # no labels beside 'pictures.gz' by the standard name
    assert "no 'images' to replace by 'labels'" in capsys.readouterr().err
    assert main([*command, "--test-labels", str(answers)]) == 0
    accuracy = numpy_accuracy(weights, pixels, labels)
    assert f"test accuracy {accuracy:.4f} on 20 images" in capsys.readouterr().out


# --------------------------------------------------------------------------- Fashion-MNIST


def raw_idx(path: Path) -> tuple[tuple[int, ...], bytes]:
    """An IDX file's shape and data bytes, read with gzip and struct only."""
    content = gzip.decompress(path.read_bytes())
    dims = content[3]
    shape = struct.unpack(f">{dims}I", content[4 : 4 + 4 * dims])
    return shape, content[4 + 4 * dims :]


@pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST is not installed in {FASHION}: apt-get install dataset-fashion-mnist",
)
def test_the_debian_fashion_mnist_files_load_as_published():
    split = load_files(
        FASHION / "train-images-idx3-ubyte.gz", FASHION / "t10k-images-idx3-ubyte.gz"
    )
    assert split.train_inputs.shape == (60_000, 784) and split.test_inputs.shape == (10_000, 784)
    assert read_images(FASHION / "t10k-images-idx3-ubyte.gz").shape == (28, 28)
    # Fashion-MNIST is balanced: 6,000 images of each class in train, 1,000 in test.
    assert np.bincount(split.train_labels).tolist() == [6_000] * 10
    assert np.bincount(split.test_labels).tolist() == [1_000] * 10
    for part, labels, inputs in (
        ("train", split.train_labels, split.train_inputs),
        ("t10k", split.test_labels, split.test_inputs),
    ):
        label_shape, label_bytes = raw_idx(FASHION / f"{part}-labels-idx1-ubyte.gz")
        image_shape, image_bytes = raw_idx(FASHION / f"{part}-images-idx3-ubyte.gz")
        assert image_shape[1:] == (28, 28) and label_shape == (len(labels),)
        assert labels.tolist() == list(label_bytes)
        for index in (0, 1, len(labels) - 1):
            image = image_bytes[index * 784 : (index + 1) * 784]
            np.testing.assert_allclose(inputs[index], [p / 255 * 0.99 + 0.01 for p in image])


def test_a_stray_carriage_return_is_named_with_its_line(tmp_path):
    # a double-converted file: line 2 ends in \r\r\n, so one \r stays in its last field
    good = ",".join(["3"] + ["0"] * 784)
    path = tmp_path / "cr.csv"
    path.write_bytes(f"{good}\r\n{good}\r\r\n".encode())
    with pytest.raises(DataFileError, match=r"cr\.csv, line 2: field 785 \(pixel 784\)"):
        data.read_images(path)


def test_an_idx_file_of_no_images_is_refused(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x00000803, 0, 28, 28))
    with pytest.raises(DataFileError, match=r"holds no images"):
        data.read_images(path)
