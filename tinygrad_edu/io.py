"""Save and load parameters as ``.npz`` files — plain arrays, never pickle.

`save` never destroys a good file: it writes a temporary file beside the target, flushes it
to disk, and only then renames it over the target (``os.replace``, atomic), so a failed
write (a full disk, an interrupt) leaves the old file as it was and no temporary behind.

`load` trusts nothing in the file: each member must be an ``.npy`` array of a numeric
dtype whose header agrees with the bytes that follow it, checked before anything of the
header's size is allocated. Every failure raises `LoadError`, naming the file and the
member.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

_ZIP_SIGNATURE = b"PK\x03\x04"


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
    not match the member's size (checked before allocating), or a non-numeric array.
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
    where = f"load: {source}, member {member.filename!r}"
    try:
        # Reads the bytes that are really there (and checks their CRC); a size claimed by
        # the archive's directory allocates nothing.
        data = archive.read(member)
    except Exception as error:  # any failure of zipfile here means a corrupt member
        raise LoadError(f"{where} is truncated or corrupt: {error}") from None
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise LoadError(f"{where} has .npy format version {version}; 1.0 and 2.0 are read")
    except LoadError:
        raise
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
    count = math.prod(shape)  # Python integers: no overflow, whatever the header claims
    claimed, present = count * dtype.itemsize, len(data) - stream.tell()
    if claimed != present:
        raise LoadError(
            f"{where} is truncated or corrupt: its header promises {dtype} of shape {shape} "
            f"({_size(claimed)}) but {_size(present)} follow it"
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    array = flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)
    return array.copy(order="K")  # own, writable memory instead of a view of ``data``


def _size(count: int) -> str:
    """A byte count for people: 100 bytes, 7.00 TiB."""
    value, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{count} bytes" if unit == "bytes" else f"{value:.2f} {unit}"
