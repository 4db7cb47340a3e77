"""Save and load parameters as ``.npz`` files — plain arrays, never pickle.

`save` never destroys a good file: it writes a temporary file beside the target, flushes it
to disk, and only then renames it over the target (``os.replace``, atomic), so a failed
write (a full disk, an interrupt) leaves the old file as it was and no temporary behind.

`load` trusts nothing in the file: each member must be an ``.npy`` array of a numeric
dtype whose header agrees with the bytes that follow it, checked before anything of the
header's size is allocated; a compressed member is inflated no further than its header
says (a decompression bomb is refused after that much). Every failure raises `LoadError`,
naming the file and the member.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import struct
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

_ZIP_SIGNATURE = b"PK\x03\x04"
_HEADER_LENGTH_FORMATS = {(1, 0): "<H", (2, 0): "<I"}  # .npy versions read: header length

MAX_HEADER_BYTES = 10_000
"""The longest .npy header read (numpy's own limit; a numeric array's is about 128 bytes)."""


class LoadError(ValueError):
    """A weight file that cannot be read: missing, not an archive, truncated or corrupt, or
    holding something other than plain numeric arrays."""


# --------------------------------------------------------------------------- save


def save(module_or_dict: Any, path: str | os.PathLike[str]) -> Path:
    """Write a module's ``state_dict()`` (or a dict of arrays) to ``path`` (.npz added if
    missing), replacing an existing file atomically. Returns the path written.

    Everything is checked before the first byte is written: the values (numeric arrays),
    the names (distinct as member names), and the path (a file name in an existing folder).
    """
    arrays = _arrays_to_save(module_or_dict)
    target = target_path(path)
    # Through a symbolic link, replace the file it points to and keep the link.
    _write_atomically(Path(os.path.realpath(target)), arrays, shown_as=target)
    return target


def _arrays_to_save(module_or_dict: Any) -> dict[str, np.ndarray]:
    if hasattr(module_or_dict, "state_dict"):
        state = module_or_dict.state_dict()
    elif isinstance(module_or_dict, Mapping):
        state = dict(module_or_dict)
    else:
        raise TypeError(
            f"save: expected a Module or a dict of arrays, got {type(module_or_dict).__name__}"
        )
    arrays: dict[str, np.ndarray] = {}
    keys: dict[str, Any] = {}
    for key, value in state.items():
        name = str(key)
        if name in keys:
            raise ValueError(
                f"save: the keys {keys[name]!r} and {key!r} would both be saved as {name!r}, "
                "and one array would be lost; give every array a distinct name"
            )
        _check_member_name(key, name)
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise TypeError(
                f"save: {name!r} has dtype {array.dtype}; only numeric arrays are saved"
            )
        keys[name] = key
        arrays[name] = array
    return arrays


def _check_member_name(key: Any, name: str) -> None:
    """Refuse a key that would not come back from `load` as itself: zipfile ends a member
    name at a NUL character (and on Windows turns the path separator into "/"), and
    cannot write a name that is not valid Unicode."""
    member = f"{name}.npy"
    if "\0" in name:
        raise ValueError(
            f"save: the key {key!r} holds a NUL character, where a .npz member name ends: it "
            f"would be saved as the member {zipfile.ZipInfo(member).filename!r}, and the file "
            "could not be loaded; give names without NUL characters"
        )
    try:
        member.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"save: the key {key!r} is not valid Unicode text ({error.reason}), so it cannot "
            "be a .npz member name; give names of printable text"
        ) from None
    stored = zipfile.ZipInfo(member).filename
    if stored != member:
        raise ValueError(
            f"save: the key {key!r} would be saved as the member {stored!r} and loaded back "
            f"as {stored.removesuffix('.npy')!r}; give names without {os.sep!r}"
        )


def target_path(path: str | os.PathLike[str]) -> Path:
    """The file `save` writes for ``path`` (.npz added if missing), checked as `save`
    checks it: raises if ``path`` names no file, names a folder, or lies in a folder that
    does not exist. Lets a program refuse a bad path before it computes what to save."""
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise ValueError(
            f"save: {os.fspath(path)!r} names no file; give a file name such as 'weights.npz'"
        )
    file = target if target.suffix == ".npz" else target.with_name(target.name + ".npz")
    for candidate in (target, file):  # "--out runs" when runs/ is a folder: not runs.npz
        if candidate.is_dir():
            raise IsADirectoryError(f"save: {candidate} is a folder; give a file name inside it")
    if not file.parent.is_dir():
        raise FileNotFoundError(f"save: the folder {file.parent} does not exist")
    return file


def _write_atomically(target: Path, arrays: dict[str, np.ndarray], shown_as: Path) -> None:
    """The .npz format written member by member into a temporary file beside ``target``
    (np.savez would take a key named "file" or "allow_pickle" for its own argument), then
    renamed over it."""
    temporary, descriptor = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as file:
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, array in arrays.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise OSError(
                f"save: could not write {shown_as} ({reason}); {_what_is_left(target)}"
            ) from error
        raise
    _sync_folder(target.parent)


def _create_temporary(target: Path) -> tuple[Path, int]:
    """A new file ``.<name>.<random>.tmp`` beside ``target``, with the permissions the
    target has (or, for a new file, those the user's umask gives)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            descriptor = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as error:
            reason = error.strerror or str(error)
            raise OSError(
                f"save: cannot create a file in {target.parent} ({reason}); {_what_is_left(target)}"
            ) from error
    if target.exists():
        with contextlib.suppress(OSError):
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
    return temporary, descriptor


def _what_is_left(target: Path) -> str:
    return "the file there is unchanged" if target.exists() else "nothing was written"


def _sync_folder(folder: Path) -> None:
    """Flush the rename itself to disk (POSIX; elsewhere the rename is all there is)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# --------------------------------------------------------------------------- load


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by `save`: a dict of arrays by name (never unpickling).

    Raises `LoadError`, naming the file and the member, for a missing file, a file that is
    not a complete .npz archive, a member that is not an ``.npy`` array, a header that does
    not match the member's size (checked before allocating, without inflating a
    compressed member past the header's size), or a non-numeric array.
    """
    source = Path(path)
    try:
        archive = zipfile.ZipFile(source)
    except FileNotFoundError:
        raise LoadError(f"load: no weight file at {source}") from None
    except IsADirectoryError:
        raise LoadError(f"load: {source} is a folder, not a weight file") from None
    except zipfile.BadZipFile:
        raise LoadError(f"load: {source} {_why_not_an_archive(source)}") from None
    except OSError as error:
        raise LoadError(f"load: cannot read {source}: {error.strerror or error}") from None
    with archive:
        members = archive.infolist()
        names = [member.filename for member in members]
        others = [name for name in names if not name.endswith(".npy")]
        if others:
            raise LoadError(
                f"load: {source} holds members that are not arrays: {others[:5]}; a weight "
                "file holds only .npy members"
            )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise LoadError(f"load: {source} holds the member {repeated[0]!r} more than once")
        return {
            member.filename.removesuffix(".npy"): _read_member(source, archive, member)
            for member in members
        }


def _why_not_an_archive(source: Path) -> str:
    try:
        with open(source, "rb") as file:
            starts_like_one = file.read(len(_ZIP_SIGNATURE)) == _ZIP_SIGNATURE
    except OSError:
        starts_like_one = False
    if starts_like_one:
        return "is truncated or corrupt (it starts like a .npz archive but does not end as one)"
    return "is not a .npz archive"


def _read_member(source: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> np.ndarray:
    """The member's array, read in two passes: the first checks the header and counts the
    bytes after it without keeping them (inflating no further than the header's size; a
    member that ends there is read to its end, so zipfile checks its CRC), the second reads
    them into an array of that size. A member that would inflate to more than
    its header says (a decompression bomb) is refused after the header's worth."""
    where = f"load: {source}, member {member.filename!r}"
    with _reading(where), archive.open(member) as stream:
        head, shape, fortran_order, dtype = _read_npy_header(where, stream)
        count = math.prod(shape)  # Python integers: no overflow, whatever the header claims
        claimed = count * dtype.itemsize
        present = count_bytes(stream, claimed + EXCESS_SHOWN_BYTES)
    if present != claimed:
        follow = f"{_size(present)} follow it"
        if present == claimed + EXCESS_SHOWN_BYTES:
            follow = f"more follow it (reading stopped {_size(EXCESS_SHOWN_BYTES)} past that)"
        raise LoadError(
            f"{where} is truncated or corrupt: its header promises {dtype} of shape {shape} "
            f"({_size(claimed)}) but {follow}"
        )
    array = np.empty(shape, dtype, order="F" if fortran_order else "C")
    with _reading(where), archive.open(member) as stream:
        stream.read(len(head))
        if read_into(stream, array) != claimed or stream.read(1):
            raise LoadError(f"{where} changed while it was read; load it again")
    return array


@contextlib.contextmanager
def _reading(where: str) -> Iterator[None]:
    try:
        yield
    except LoadError:
        raise
    except Exception as error:  # any failure of zipfile here means a corrupt member
        raise LoadError(f"{where} is truncated or corrupt: {error}") from None


def _read_npy_header(
    where: str, stream: Readable
) -> tuple[bytes, tuple[int, ...], bool, np.dtype[Any]]:
    """The .npy header at the start of ``stream`` (its bytes, then the shape, the order
    and the dtype it gives), checked; no more than `MAX_HEADER_BYTES` of it are read."""
    head = stream.read(8)  # the magic string \x93NUMPY, then the format version
    try:
        version = np.lib.format.read_magic(io.BytesIO(head))
    except Exception as error:  # numpy's parser raises several types
        raise LoadError(f"{where} is not a valid .npy array: {error}") from None
    if version not in _HEADER_LENGTH_FORMATS:
        raise LoadError(f"{where} has .npy format version {version}; 1.0 and 2.0 are read")
    length_format = _HEADER_LENGTH_FORMATS[version]
    head += stream.read(struct.calcsize(length_format))
    if len(head) == 8 + struct.calcsize(length_format):
        (header_length,) = struct.unpack(length_format, head[8:])
        if header_length > MAX_HEADER_BYTES:
            raise LoadError(
                f"{where} is not a valid .npy array: its header claims {header_length} "
                f"bytes; a header of more than {MAX_HEADER_BYTES} is not read"
            )
        head += stream.read(header_length)
    parse = io.BytesIO(head)
    try:
        np.lib.format.read_magic(parse)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(parse)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(parse)
    except Exception as error:  # numpy's header parser raises several types
        raise LoadError(f"{where} is not a valid .npy array: {error}") from None
    if dtype.hasobject:
        raise LoadError(
            f"{where} holds an object array; object arrays can be read only by unpickling, "
            "which can run code, so only plain numeric arrays are loaded"
        )
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise LoadError(f"{where} has dtype {dtype}; only numeric arrays are loaded")
    if not all(type(size) is int and size >= 0 for size in shape):  # numpy lets True pass
        raise LoadError(
            f"{where} is corrupt: its header gives the shape {shape}; a shape is a tuple of "
            "whole numbers ≥ 0"
        )
    return head, shape, fortran_order, dtype


# --------------------------------------------------------------------------- bounded reads

_CHUNK_BYTES = 1 << 20


class Readable(Protocol):
    """What the bounded reads need of a file: ``read(size)`` (a file, a zip member, gzip)."""

    def read(self, size: int, /) -> bytes: ...


EXCESS_SHOWN_BYTES = 1 << 16
"""How far past the size a header promises a reader looks, to say how many bytes are too
many; beyond that it stops ("reading stopped 64.00 KiB past that")."""


def count_bytes(stream: Readable, limit: int) -> int:
    """How many bytes are left in ``stream``, counted up to ``limit``: read (decompressed)
    1 MiB at a time and dropped, so a size promised by a header is checked without holding
    the bytes, and without inflating a compressed stream past the promise."""
    counted = 0
    while counted < limit:
        chunk = stream.read(min(_CHUNK_BYTES, limit - counted))
        if not chunk:
            break
        counted += len(chunk)
    return counted


def read_into(stream: Readable, array: np.ndarray) -> int:
    """Fill a new (contiguous) ``array``'s memory with bytes from ``stream``, 1 MiB at a
    time; returns the number of bytes read, fewer than ``array.nbytes`` if it ended first."""
    memory = array.reshape(-1, order="A").view(np.uint8)  # a view, in the array's own order
    filled = 0
    while filled < len(memory):
        chunk = stream.read(min(_CHUNK_BYTES, len(memory) - filled))
        if not chunk:
            break
        memory[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    return filled


def _size(count: int) -> str:
    """A byte count for people: 100 bytes, 7.00 TiB."""
    value, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{count} bytes" if unit == "bytes" else f"{value:.2f} {unit}"
