"""io.save replaces files atomically and loses nothing; io.load trusts nothing in a file.

(The everyday round trips are in test_data_io.py.)
"""

import io
import os
import re
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from references import peak_memory, write_then_zeros

from tinygrad_edu import io as weights_io

POSIX = os.name == "posix"


def npy_bytes(header: dict, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """An .npy member: the magic string, a header saying anything, then ``data``."""
    buffer = io.BytesIO()
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue() + data


def archive_of(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def folder_listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def good_file(tmp_path):
    """A weight file that a failed save must leave exactly as it was."""
    path = weights_io.save({"w": np.arange(6.0).reshape(2, 3)}, tmp_path / "w.npz")
    return path, path.read_bytes()


# --------------------------------------------------------------------------- atomic save


def failing_writer(exception):
    """np.lib.format.write_array that writes part of the array, then fails."""

    def write_array(member, array, allow_pickle):
        member.write(b"\x93NUMPY half an array")
        raise exception

    return write_array


@pytest.mark.parametrize(
    "exception",
    [OSError(28, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "interrupt"],
)
def test_a_save_that_fails_midway_leaves_the_old_file_and_no_temporary(
    good_file, monkeypatch, exception
):
    path, before = good_file
    monkeypatch.setattr(np.lib.format, "write_array", failing_writer(exception))
    with pytest.raises(type(exception)) as raised:
        weights_io.save({"w": np.ones((50, 50))}, path)
    assert path.read_bytes() == before
    assert folder_listing(path.parent) == ["w.npz"]
    if isinstance(exception, OSError):
        assert str(path) in str(raised.value) and "unchanged" in str(raised.value)


def test_a_failed_first_save_leaves_no_file_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(np.lib.format, "write_array", failing_writer(OSError(28, "disk full")))
    with pytest.raises(OSError, match="nothing was written"):
        weights_io.save({"w": np.ones(3)}, tmp_path / "new.npz")
    assert folder_listing(tmp_path) == []


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX")
def test_a_real_write_past_the_file_size_limit_keeps_the_old_file(good_file):
    # A real failing write, not a mock: the child process may write at most 1 KiB per
    # file (RLIMIT_FSIZE), so saving 80 KB fails in the kernel with EFBIG, as on a full disk.
    path, before = good_file
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np
        from tinygrad_edu import io as weights_io
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        try:
            weights_io.save({{"w": np.ones((100, 100))}}, {str(path)!r})
        except OSError as error:
            print(error)
            sys.exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    assert "could not write" in result.stdout and "unchanged" in result.stdout
    assert path.read_bytes() == before
    assert folder_listing(path.parent) == ["w.npz"]


def test_a_successful_save_replaces_the_file_and_leaves_no_temporary(good_file):
    path, _ = good_file
    weights_io.save({"v": np.zeros(2)}, path)
    assert sorted(weights_io.load(path)) == ["v"]
    assert folder_listing(path.parent) == ["w.npz"]


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_replacing_a_file_keeps_its_permissions(good_file):
    path, _ = good_file
    path.chmod(0o600)
    weights_io.save({"w": np.zeros(2)}, path)
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(not POSIX, reason="POSIX umask")
def test_a_new_file_gets_the_permissions_of_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = weights_io.save({"w": np.zeros(2)}, tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640  # 0o666 without the umask's bits


@pytest.mark.skipif(not POSIX, reason="symbolic links")
def test_saving_through_a_symbolic_link_replaces_the_file_it_points_to(good_file):
    path, _ = good_file
    link = path.with_name("latest.npz")
    link.symlink_to(path.name)
    weights_io.save({"v": np.ones(1)}, link)
    assert link.is_symlink()
    assert sorted(weights_io.load(path)) == ["v"]


# --------------------------------------------------------------------------- what save refuses


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({1: np.ones(2), "1": np.zeros(2)}, r"keys 1 and '1' would both be saved as '1'"),
        ({"w": np.array(["a"])}, "only numeric arrays"),
        ({"w": np.array([None])}, "only numeric arrays"),
        ({"a\0x": np.ones(2)}, r"the key 'a\\x00x' holds a NUL character.*member 'a'"),
        ({"w\0.npy": np.ones(2)}, r"holds a NUL character"),
        ({"\ud800": np.ones(2)}, r"the key '\\ud800' is not valid Unicode text"),
    ],
    ids=["colliding-keys", "strings", "objects", "nul-in-key", "nul-before-suffix", "surrogate"],
)
def test_save_refuses_states_that_would_lose_or_mangle_data(good_file, state, message):
    path, before = good_file
    with pytest.raises((ValueError, TypeError), match=message):
        weights_io.save(state, path)
    assert path.read_bytes() == before
    assert folder_listing(path.parent) == ["w.npz"]


@pytest.mark.parametrize("keys", [["a\0x", "a\0y"], ["b", "\0"]], ids=["two-cut-to-one", "empty"])
def test_a_key_with_a_nul_is_refused_before_any_file_is_created(good_file, monkeypatch, keys):
    """zipfile would end the member name at the NUL, and the new file would not load."""
    path, before = good_file

    def create_nothing(*args, **kwargs):
        raise AssertionError("save created a file for a state it must refuse")

    monkeypatch.setattr(os, "open", create_nothing)
    with pytest.raises(ValueError, match=r"holds a NUL character.*give names without NUL"):
        weights_io.save({key: np.ones(2) for key in keys}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert folder_listing(path.parent) == ["w.npz"]


def test_keys_of_any_printable_text_load_back_as_themselves(tmp_path):
    state = {"layer/0.weight": np.ones(2), "é ü": np.zeros(1), "../up": np.ones(1), ".": 3}
    loaded = weights_io.load(weights_io.save(state, tmp_path / "w.npz"))
    assert sorted(loaded) == sorted(state)


@pytest.mark.parametrize("name", ["", ".", "..", "folder", "runs", "runs/"])
def test_save_refuses_a_path_that_names_no_file(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "runs").mkdir()  # "runs" is this folder, not a file runs.npz beside it
    with pytest.raises((ValueError, IsADirectoryError), match=r"names no file|is a folder"):
        weights_io.save({"w": np.ones(1)}, name)
    assert folder_listing(tmp_path) == ["folder.npz", "runs"]
    assert folder_listing(tmp_path / "folder.npz") == folder_listing(tmp_path / "runs") == []


@pytest.mark.parametrize(
    ("name", "written"), [("w", "w.npz"), ("w.npz", "w.npz"), ("w.txt", "w.txt.npz")]
)
def test_target_path_is_the_file_save_writes(tmp_path, name, written):
    assert weights_io.target_path(tmp_path / name) == tmp_path / written
    assert weights_io.save({"a": np.ones(1)}, tmp_path / name) == tmp_path / written
    assert folder_listing(tmp_path) == [written]


def test_a_folder_save_cannot_write_in_is_named(good_file, monkeypatch):
    path, before = good_file

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OSError, match=r"cannot create a file in .*Permission denied.*unchanged"):
        weights_io.save({"w": np.ones(2)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_save_into_a_missing_folder_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder .*nowhere does not exist"):
        weights_io.save({"w": np.ones(1)}, tmp_path / "nowhere" / "w.npz")


# --------------------------------------------------------------------------- what load refuses

HUGE = {"descr": "<f8", "fortran_order": False, "shape": (1024, 1024, 1024, 896)}  # 7 TiB


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"w.npy": npy_bytes(HUGE, b"\0" * 20)}, r"member 'w\.npy'.*7\.00 TiB.*20 bytes"),
        (
            {"w.npy": npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (10,)}, b"1")},
            r"member 'w\.npy' is truncated or corrupt.*\(10,\).*80 bytes.*1 bytes follow",
        ),
        (
            {"w.npy": npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1,)}, b"1" * 9)},
            r"member 'w\.npy' is truncated or corrupt.*8 bytes.*9 bytes follow",
        ),
        (
            {"w.npy": npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (-2, 4)})},
            r"member 'w\.npy' is corrupt: its header gives the shape \(-2, 4\)",
        ),
        (
            {"w.npy": npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (True,)})},
            r"member 'w\.npy' is corrupt: its header gives the shape \(True,\); a shape is",
        ),
        (
            {"w.npy": npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (2, False)})},
            r"its header gives the shape \(2, False\)",
        ),
        ({"w.npy": b"\x93NUMPY\x01\x00\x05\x00{abc"}, r"member 'w\.npy' is not a valid \.npy"),
        ({"w.npy": b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f8', 'fortran_or"}, "not a valid"),
        ({"w.npy": b"hello"}, r"member 'w\.npy' is not a valid \.npy array"),
        (
            {
                "w.npy": npy_bytes(
                    {"descr": "<U3", "fortran_order": False, "shape": (1,)}, b"\0" * 12
                )
            },
            r"member 'w\.npy' has dtype <U3; only numeric arrays",
        ),
        (
            {"w.npy": npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, b"\0" * 8)},
            r"member 'w\.npy' holds an object array",
        ),
        ({"w.npy": b"\x93NUMPY\x03\x00" + b"\0" * 8}, r"format version \(3, 0\)"),
        (
            {
                "w.npy": npy_bytes(
                    {"descr": "<f8", "fortran_order": False, "shape": ()}, b"\0" * 8
                ),
                "notes.txt": b"hi",
            },
            r"members that are not arrays: \['notes\.txt'\]",
        ),
    ],
    ids=[
        "7-TiB-header",
        "short-data",
        "long-data",
        "negative-shape",
        "true-in-shape",
        "false-in-shape",
        "bad-header",
        "cut-header",
        "no-magic",
        "strings",
        "objects",
        "version-3",
        "not-npy-member",
    ],
)
def test_load_refuses_a_member_it_cannot_trust(tmp_path, members, message):
    path = archive_of(tmp_path / "bad.npz", members)
    with pytest.raises(weights_io.LoadError, match=message) as raised:
        weights_io.load(path)
    assert str(path) in str(raised.value)


def test_load_refuses_a_member_that_appears_twice(tmp_path):
    path = tmp_path / "twice.npz"
    one = npy_bytes({"descr": "<f8", "fortran_order": False, "shape": ()}, b"\0" * 8)
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile warns, and writes it
        archive_of(path, {"w.npy": one})
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("w.npy", one)
    with pytest.raises(weights_io.LoadError, match=r"'w\.npy' more than once"):
        weights_io.load(path)


def test_load_refuses_a_member_whose_checksum_fails(tmp_path):
    path = weights_io.save({"w": np.arange(100.0)}, tmp_path / "w.npz")
    raw = bytearray(path.read_bytes())
    raw[raw.index(np.float64(50.0).tobytes())] ^= 0xFF  # flip one stored byte of the data
    path.write_bytes(bytes(raw))
    with pytest.raises(weights_io.LoadError, match=r"member 'w\.npy' is truncated or corrupt"):
        weights_io.load(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no weight file at"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("weights?"), r"is not a \.npz archive"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "truncated or corrupt"),
    ],
    ids=["missing", "folder", "text", "cut-archive"],
)
def test_load_names_a_file_that_is_no_weight_file(tmp_path, make, message):
    path = tmp_path / "w.npz"
    make(path)
    with pytest.raises(weights_io.LoadError, match=message):
        weights_io.load(path)


def test_the_load_error_is_a_value_error():
    assert issubclass(weights_io.LoadError, ValueError)


# --------------------------------------------------------------------------- decompression bombs

MIB = 1 << 20


def deflated_archive(path, head: bytes, zeros: int):
    """One member: ``head``, then ``zeros`` zero bytes, deflated (1 MiB ≈ 1 KiB on disk)."""
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("w.npy", "w") as member,
    ):
        write_then_zeros(member, head, zeros)
    return path


BOMBS = {
    "8-byte-header": (
        npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1,)}),
        r"\(8 bytes\) but more follow it \(reading stopped 64\.00 KiB past that\)",
    ),
    "7-TiB-header": (npy_bytes(HUGE), r"\(7\.00 TiB\) but 64\.00 MiB follow it"),
    "4-GiB-header-length": (
        b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1),
        r"not a valid \.npy array: its header claims 4294967295 bytes; a header of more than "
        r"10000 is not read",
    ),
}


@pytest.mark.parametrize(("head", "message"), BOMBS.values(), ids=BOMBS)
def test_load_refuses_a_decompression_bomb_without_holding_what_it_inflates_to(
    tmp_path, head, message
):
    """64 MiB of zeros after the header, 64 KiB on disk: the header is checked, and the
    member read no further than its promise, holding at most 1 MiB of it at a time."""
    path = deflated_archive(tmp_path / "bomb.npz", head, zeros=64 * MIB)
    assert path.stat().st_size < 100_000

    raised = []

    def load():
        with pytest.raises(weights_io.LoadError) as info:
            weights_io.load(path)
        raised.append(str(info.value))

    assert peak_memory(load) < 8 * MIB  # it was 141 MiB: the 64 MiB inflated, then copied
    assert re.search(message, raised[0]), raised[0]


def test_a_compressed_member_is_read_into_its_array_without_a_copy(tmp_path):
    array = np.zeros(2 * MIB)  # 16 MiB
    array[::4099] = np.arange(len(array[::4099]))
    np.savez_compressed(tmp_path / "w.npz", w=array)
    loaded = {}
    peak = peak_memory(lambda: loaded.update(weights_io.load(tmp_path / "w.npz")))
    np.testing.assert_array_equal(loaded["w"], array)
    assert peak < 1.5 * array.nbytes  # it was 3 times: inflated, then copied


# --------------------------------------------------------------------------- what load reads

saveable_dtypes = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
)


@settings(deadline=None)
@given(
    array=hnp.arrays(saveable_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0)),
    fortran=st.booleans(),
)
def test_load_reads_back_what_save_wrote(tmp_path_factory, array, fortran):
    if fortran:
        array = np.asfortranarray(array)
    path = weights_io.save({"a": array}, tmp_path_factory.mktemp("io") / "a.npz")
    loaded = weights_io.load(path)["a"]
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


def test_load_reads_files_written_by_numpys_own_savez(tmp_path):
    arrays = {"w": np.arange(12.0).reshape(3, 4), "b": np.ones(3, dtype=np.float32)}
    for writer in (np.savez, np.savez_compressed):
        path = tmp_path / f"{writer.__name__}.npz"
        writer(path, **arrays)
        loaded = weights_io.load(path)
        assert sorted(loaded) == ["b", "w"]
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)
            assert loaded[name].dtype == array.dtype
