"""Save and load parameters as ``.npz`` files — plain arrays, never pickle."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def save(module_or_dict: Any, path: str | os.PathLike[str]) -> Path:
    """Write a module's ``state_dict()`` (or a dict of arrays) to ``path`` (.npz added if
    missing). Returns the path written."""
    if hasattr(module_or_dict, "state_dict"):
        state = module_or_dict.state_dict()
    elif isinstance(module_or_dict, Mapping):
        state = dict(module_or_dict)
    else:
        raise TypeError(
            f"save: expected a Module or a dict of arrays, got {type(module_or_dict).__name__}"
        )
    arrays = {}
    for name, value in state.items():
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise TypeError(
                f"save: {name!r} has dtype {array.dtype}; only numeric arrays are saved"
            )
        arrays[str(name)] = array
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    # The .npz format written member by member (np.savez would take a key named "file" or
    # "allow_pickle" for its own argument).
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return target


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by `save`: a dict of arrays by name (``allow_pickle=False``).

    A missing file, a file that is not a complete .npz archive, or one that holds object
    arrays raises an error that says which.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"load: no weight file at {source}")
    if not zipfile.is_zipfile(source):
        raise ValueError(f"load: {source} is not a .npz archive (truncated or corrupt?)")
    try:
        with np.load(source, allow_pickle=False) as archive:
            others = [name for name in archive.zip.namelist() if not name.endswith(".npy")]
            if others:
                raise ValueError(
                    f"load: {source} holds members that are not arrays: {others[:5]}; a "
                    "weight file holds only .npy members"
                )
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"load: {source} is truncated or corrupt: {error}") from None
    except ValueError as error:
        if str(error).startswith("load: "):
            raise
        if "pickle" in str(error).lower():
            raise ValueError(
                f"load: {source} holds object arrays, which only unpickling could read (and "
                "unpickling can run code); only plain numeric arrays are loaded"
            ) from None
        raise ValueError(f"load: {source} could not be read: {error}") from None
