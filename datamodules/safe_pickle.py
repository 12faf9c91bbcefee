"""Open the release's pickles without letting a pickle run code.

The Algonauts fMRI files are Python 2 pickles of dicts of numpy arrays. A plain
``pickle.load`` would execute whatever a tampered file asks for, so this
unpickler admits only what those files need: numpy arrays and dtypes, dicts,
lists, tuples, sets and plain scalars. Anything else is refused, naming the file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

# (module, name) pairs a numpy-array pickle may reference, for numpy 1.x and 2.x.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
    ("__builtin__", "set"),  # Python 2 pickles
    ("__builtin__", "frozenset"),
    ("copy_reg", "_reconstructor"),  # Python 2 pickles of dicts-of-arrays via copy_reg
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store raw bytes
}


class UnsafePickleError(ValueError):
    """A pickle asked for something other than arrays, containers and scalars."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            if module == "copy_reg":
                module = "copyreg"
            elif module == "__builtin__":
                module = "builtins"
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._path}: refusing to load '{module}.{name}'. Only numpy arrays, dicts, lists "
            "and plain scalars are allowed in fMRI pickles; this file may not be what it claims to be."
        )


def load_pickle(path: str | Path):
    """Load a pickle of numpy arrays, dicts, lists and scalars; refuse anything else.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UnsafePickleError
        The pickle references a class or function outside the allowed set.
    ValueError
        The file is not a readable pickle (truncated, corrupt), naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fMRI pickle not found")
    data = path.read_bytes()
    try:
        return _RestrictedUnpickler(io.BytesIO(data), path).load()
    except UnsafePickleError:
        raise
    except Exception as err:  # noqa: BLE001 - any parse failure becomes one clear message
        raise ValueError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from err
