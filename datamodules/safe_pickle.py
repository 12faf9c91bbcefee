"""Open the release's pickles without letting a pickle run code or allocate without bound.

The Algonauts fMRI files are Python 2 pickles of dicts of numpy arrays. A plain
``pickle.load`` would execute whatever a tampered file asks for, so this
unpickler admits only what those files need: numpy arrays and dtypes, dicts,
lists, tuples, sets and plain scalars. Anything else is refused, naming the file.

Refusing code is not enough: a few bytes can ask an allowed constructor for gigabytes
(``bytearray(1_500_000_000)``, ``numpy.ndarray((20, 3, 5_000_000))``, an object array that
declares a billion elements). So every allowed call that could allocate is bounded by what
the file carries:

- an array's declared size must equal the bytes (or, for object arrays, the items) it carries;
  numpy itself always pickles an empty ``(0,)`` array and then fills it, so nothing else is allowed
  to create an array;
- ``bytes``/``bytearray`` may copy data from the file, never take a length;
- ``_codecs.encode`` (how Python 3 stores raw bytes in protocol-2 pickles) only with latin-1, which
  maps one character to one byte;
- :func:`bounded_array` turns nested lists into an array only when their element count fits in
  the file (memo-shared sub-lists would otherwise expand to gigabytes).

``load_pickle(path, allow_nifti=True)`` (BOLD Moments' whole-brain files, whose mask is a pickled
``nibabel.Nifti1Image``) also admits the four nibabel classes such a pickle names:
``Nifti1Image``, ``Nifti1Header``, ``Nifti1Extensions`` and ``FileHolder``, and only the way
``pickle`` writes an object (protocol 2 or later): created empty (``NEWOBJ`` without arguments),
then given its attribute dict (``BUILD`` with a dict of str keys). They are never called
(no constructor runs), and their state never goes through ``setattr`` (no property setter runs).
"""

from __future__ import annotations

import codecs
import copyreg
import math
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np

try:  # numpy 2.x
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric
_np_reconstruct = _multiarray._reconstruct


class UnsafePickleError(ValueError):
    """A pickle asked for something other than arrays, containers and scalars, or for more
    memory than its own bytes account for."""


class _Token:
    """Stands in for ``numpy.ndarray``: the class may be named (as ``_reconstruct``'s argument),
    never called (``ndarray(shape)`` would allocate a declared shape of uninitialised memory)."""

    def __repr__(self) -> str:
        return "numpy.ndarray"

    def __call__(self, *args, **kwargs):
        raise _Refused(f"numpy.ndarray{args!r} called directly (it would allocate its declared shape)")


_NDARRAY = _Token()
_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}


class _Refused(Exception):
    """Raised inside a guarded constructor; becomes an UnsafePickleError naming the file."""


def _reconstruct(subtype, shape, dtype):
    """numpy's ``_reconstruct``, for the empty array it always pickles (then filled by BUILD)."""
    if subtype is not _NDARRAY:
        raise _Refused(f"_reconstruct of {subtype!r} (only numpy.ndarray)")
    if not isinstance(shape, tuple) or any(not isinstance(n, int) or n < 0 for n in shape) or math.prod(shape):
        raise _Refused(f"_reconstruct with declared shape {shape!r} and no data (numpy writes an empty array)")
    return _np_reconstruct(np.ndarray, shape, dtype)


def _from_data(kind):
    def build(*args):
        if any(isinstance(a, (int, float)) for a in args):
            raise _Refused(f"{kind.__name__}({', '.join(map(repr, args))}): a length instead of data")
        return kind(*args)

    build.__name__ = kind.__name__
    return build


def _encode(obj, encoding="utf-8", errors="strict"):
    if not isinstance(obj, str) or str(encoding).lower() not in _LATIN1:
        raise _Refused(f"_codecs.encode with encoding {encoding!r} (only latin1 byte strings)")
    return codecs.encode(obj, "latin1", errors)


_CONTAINERS = (dict, list, set, frozenset, OrderedDict, complex)


def _reconstructor(cls, base, state):
    if cls not in _CONTAINERS or base not in _CONTAINERS:
        raise _Refused(f"copy_reg._reconstructor({cls!r}, {base!r}) (only plain containers)")
    return copyreg._reconstructor(cls, base, state)


# (module, name) -> what the pickle gets: numpy arrays, dtypes and containers, for numpy 1.x and 2.x.
_ALLOWED = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): _from_data(bytearray),
    ("builtins", "bytes"): _from_data(bytes),
    ("__builtin__", "set"): set,  # Python 2 pickles
    ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "bytearray"): _from_data(bytearray),
    ("__builtin__", "bytes"): _from_data(bytes),  # protocol 2 stores b"" (a 0-voxel array's data) as bytes()
    ("copy_reg", "_reconstructor"): _reconstructor,  # Python 2 pickles of dicts-of-arrays via copy_reg
    ("copyreg", "_reconstructor"): _reconstructor,
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _encode,  # how protocol-2 pickles written by Python 3 store raw bytes
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_module}.multiarray", "scalar")] = _multiarray.scalar
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _numeric._frombuffer


def _check_array_state(state) -> None:
    """An ndarray's pickled state ``(version, shape, dtype, is_fortran, data)`` must carry exactly
    the bytes (or, for object arrays, the items) its shape declares; numpy would allocate first."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise _Refused(f"an array state of type {type(state).__name__}")
    shape, dtype, _, data = state[-4:]
    if not isinstance(shape, tuple) or any(not isinstance(n, int) or n < 0 for n in shape):
        raise _Refused(f"an array of shape {shape!r}")
    if not isinstance(dtype, np.dtype):
        raise _Refused(f"an array of dtype {dtype!r}")
    n = math.prod(shape)
    if dtype.hasobject:
        if not isinstance(data, list) or len(data) != n:
            carried = f"{len(data)} items" if isinstance(data, list) else type(data).__name__
            raise _Refused(f"an object array of shape {shape} ({n} items) carrying {carried}")
        return
    needed = n * dtype.itemsize
    carried = len(data) if isinstance(data, (bytes, bytearray, str)) else None
    if carried != needed:
        raise _Refused(f"an array of shape {shape} and dtype {dtype} ({needed:,} bytes) carrying "
                       + (f"{carried:,} bytes" if carried is not None else type(data).__name__))


#: What a pickled ``nibabel.Nifti1Image`` names besides numpy (nibabel 3-5, protocol >= 2).
_NIFTI_NAMES = (("nibabel.nifti1", "Nifti1Image"), ("nibabel.nifti1", "Nifti1Header"),
                ("nibabel.nifti1", "Nifti1Extensions"), ("nibabel.fileholders", "FileHolder"))


def _nifti_classes() -> dict[tuple[str, str], type]:
    """The nibabel classes of :data:`_NIFTI_NAMES`, imported only when a pickle may hold them."""
    from nibabel.fileholders import FileHolder
    from nibabel.nifti1 import Nifti1Extensions, Nifti1Header, Nifti1Image

    return dict(zip(_NIFTI_NAMES, (Nifti1Image, Nifti1Header, Nifti1Extensions, FileHolder),
                    strict=True))


def _check_object_state(inst, state) -> None:
    """A nibabel object gets only its attribute dict: no slot state (``setattr`` would run property
    setters), no non-str keys."""
    if not isinstance(state, dict) or any(not isinstance(k, str) for k in state):
        raise _Refused(f"a {type(inst).__name__} state of type {type(state).__name__} "
                       "(only a dict of attributes)")


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its BUILD can be checked; the C one's cannot) with an allow-list."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, path: Path, allow_nifti: bool = False):
        super().__init__(file, encoding="latin1")
        self._path = path
        self._objects = _nifti_classes() if allow_nifti else {}
        self._object_types = tuple(self._objects.values())

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if (module, name) in self._objects:
            return self._objects[(module, name)]
        what = "numpy arrays, dicts, lists and plain scalars" + (
            " (and a nibabel Nifti1Image)" if self._objects else "")
        raise UnsafePickleError(
            f"{self._path}: refusing to load '{module}.{name}'. Only {what} are allowed in fMRI "
            "pickles; this file may not be what it claims to be."
        )

    def load_build(self):
        if isinstance(self.stack[-2], np.ndarray):
            _check_array_state(self.stack[-1])
        elif self._object_types and isinstance(self.stack[-2], self._object_types):
            _check_object_state(self.stack[-2], self.stack[-1])
        super().load_build()

    def _check_new(self, cls, args, kwargs=None) -> None:
        if cls in self._object_types and (args or kwargs):
            raise _Refused(f"{cls.__name__}.__new__ with arguments {args!r} {kwargs or ''}")

    def load_newobj(self):
        self._check_new(self.stack[-2], self.stack[-1])
        super().load_newobj()

    def load_newobj_ex(self):
        self._check_new(self.stack[-3], self.stack[-2], self.stack[-1])
        super().load_newobj_ex()

    def load_reduce(self):
        if self._object_types and self.stack[-2] in self._object_types:
            raise _Refused(f"a call of {self.stack[-2].__name__} (nibabel objects are only "
                           "restored as pickle writes them, never constructed)")
        super().load_reduce()

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.REDUCE[0]] = load_reduce


def load_pickle(path: str | Path, allow_nifti: bool = False):
    """Load a pickle of numpy arrays, dicts, lists and scalars; refuse anything else.

    ``allow_nifti`` also admits a pickled ``nibabel.Nifti1Image`` (see the module docstring).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UnsafePickleError
        The pickle references a class or function outside the allowed set, or asks an allowed
        one for memory its bytes do not carry (the message says what it asked for).
    ValueError
        The file is not a readable pickle (truncated, corrupt), naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fMRI pickle not found")
    try:
        # Read from the file, not from its bytes in memory: a 2.6 GB array is not held twice.
        with open(path, "rb") as file:
            return _RestrictedUnpickler(file, path, allow_nifti).load()
    except UnsafePickleError:
        raise
    except _Refused as err:
        raise UnsafePickleError(f"{path}: refusing to build {err}; this file may not be what it claims "
                                "to be") from None
    except Exception as err:  # noqa: BLE001 - any parse failure becomes one clear message
        raise ValueError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from err


def _nested_shape(value) -> tuple[int, ...]:
    """The shape nested lists/tuples would give, read along the first element of each level."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def bounded_array(value, path: str | Path, what: str) -> np.ndarray:
    """``np.asarray(value)``, refusing nested lists with more elements than ``path`` has bytes.

    A list of numbers in a pickle takes at least two bytes per number, so an honest file never
    trips this; a file whose sub-lists are references to one another (the pickle memo) can
    declare billions of elements in a few hundred kilobytes, and ``np.asarray`` would build them.
    """
    if isinstance(value, np.ndarray):
        return value
    shape = _nested_shape(value)
    file_bytes = Path(path).stat().st_size
    if math.prod(shape) > file_bytes:
        raise UnsafePickleError(f"{path}: '{what}' is nested lists of shape {shape} ({math.prod(shape):,} "
                                f"elements) in a file of {file_bytes:,} bytes: its lists share one another's "
                                "contents; refusing to expand them")
    return np.asarray(value)
