import os
import pickle

import numpy as np
import pytest

from datamodules.safe_pickle import UnsafePickleError, load_pickle


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_loads_dicts_of_arrays(tmp_path, protocol):
    data = {"train": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "voxel_mask": np.ones((2, 2, 2), bool),
            "meta": [1, 2.5, "x", None, (1, 2)]}
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_pickle(path)
    np.testing.assert_array_equal(loaded["train"], data["train"])
    assert loaded["voxel_mask"].dtype == bool
    assert loaded["meta"] == data["meta"]


def test_python2_style_latin1_strings(tmp_path):
    # A Python 2 pickle stores str as raw bytes (SHORT_BINSTRING); latin1 decodes them.
    path = tmp_path / "py2.pkl"
    path.write_bytes(b"\x80\x02}q\x00U\x05trainq\x01K\x03s.")
    assert load_pickle(path) == {"train": 3}


def test_refuses_code_execution(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"train": _Evil()}))
    with pytest.raises(UnsafePickleError, match="evil.pkl.*(posix|os).system"):
        load_pickle(path)


def test_corrupt_and_missing(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"train": np.zeros(100)})[:40])
    with pytest.raises(ValueError, match="cut.pkl: not a readable pickle"):
        load_pickle(path)
    with pytest.raises(FileNotFoundError, match="nothere.pkl"):
        load_pickle(tmp_path / "nothere.pkl")


# ----------------------------------------------------------------------------- memory bombs
# Each bomb is a few bytes asking an allowed constructor for gigabytes. Each is opened in a
# subprocess limited to 1 GiB of address space: refused with the file's name, never built
# (an attempt to build would end in MemoryError, which the test tells apart).
def _nested_shared_lists() -> bytes:
    row = [1.0] * 1000
    return pickle.dumps({"train": [[row] * 30000] * 25}, protocol=2)  # 750 million elements, ~70 KB


BOMBS = {
    # bytearray(1_500_000_000): 33 bytes, 1.5 GB
    "bytearray_length": b"\x80\x02c__builtin__\nbytearray\nJ\x00\x2f\x68\x59\x85R.",
    # numpy's _reconstruct with a declared shape (20, 3, 5e6) float32 and no data: 1.2 GB uninitialised
    "reconstruct_declared_shape": (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                                   b"K\x14K\x03J\x40\x4b\x4c\x00\x87U\x01f\x87R."),
    # numpy.ndarray((20, 3, 5e6)) called directly
    "ndarray_call": b"\x80\x02cnumpy\nndarray\nK\x14K\x03J\x40\x4b\x4c\x00\x87U\x01f\x86R.",
    # bytes(1_500_000_000)
    "bytes_length": b"\x80\x02c__builtin__\nbytes\nJ\x00\x2f\x68\x59\x85R.",
}


def _object_array_declaring_a_billion_items() -> bytes:
    honest = pickle.dumps(np.array([1, 2], dtype=object), protocol=2)
    return honest.replace(b"K\x02\x85", b"J\x00\xca\x9a\x3b\x85", 1)  # shape (2,) -> (1_000_000_000,)


_OPEN_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from datamodules.safe_pickle import UnsafePickleError, bounded_array, load_pickle
try:
    data = load_pickle(sys.argv[1])
    if isinstance(data, dict):
        bounded_array(data["train"], sys.argv[1], "train")
except UnsafePickleError as err:
    print("REFUSED", err)
    sys.exit(3)
except MemoryError:
    print("MEMORYERROR")
    sys.exit(4)
except ValueError as err:
    print("VALUEERROR", err)
    sys.exit(5)
print("ACCEPTED")
"""


@pytest.mark.parametrize("name", [*BOMBS, "object_array_items", "nested_shared_lists"])
def test_memory_bomb_is_refused_naming_the_file_under_a_memory_limit(tmp_path, name):
    import subprocess
    import sys
    from pathlib import Path

    payload = {"object_array_items": _object_array_declaring_a_billion_items,
               "nested_shared_lists": _nested_shared_lists}.get(name, lambda: BOMBS[name])()
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(payload)
    assert path.stat().st_size < 100_000
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _OPEN_LIMITED, str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env=env, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"REFUSED {path}: " in done.stdout


def test_honest_object_array_and_protocol5_still_load(tmp_path):
    path = tmp_path / "obj.pkl"
    path.write_bytes(pickle.dumps({"meta": np.array([1, "a"], dtype=object)}, protocol=2))
    assert load_pickle(path)["meta"].tolist() == [1, "a"]
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    path.write_bytes(pickle.dumps({"train": arr}, protocol=5))
    np.testing.assert_array_equal(load_pickle(path)["train"], arr)


def test_zero_voxel_region_in_a_protocol_2_pickle_is_not_called_unsafe(tmp_path):
    from datamodules.release import DataLayoutError, load_recording

    path = tmp_path / "sub01" / "FFA.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"train": np.zeros((4, 3, 0), np.float32)}, protocol=2))
    assert b"__builtin__\nbytes" in path.read_bytes()  # how protocol 2 writes the empty data
    assert load_pickle(path)["train"].shape == (4, 3, 0)
    with pytest.raises(DataLayoutError, match=r"FFA.pkl: 'train' has 0 voxels, shape \(4, 3, 0\)"):
        load_recording(path)


def test_nested_lists_that_fit_the_file_still_load(tmp_path):
    from datamodules.release import load_recording

    train = np.random.default_rng(0).normal(size=(4, 2, 3)).tolist()
    path = tmp_path / "V1.pkl"
    path.write_bytes(pickle.dumps({"train": train}, protocol=2))
    np.testing.assert_allclose(load_recording(path).train, np.array(train, np.float32))
