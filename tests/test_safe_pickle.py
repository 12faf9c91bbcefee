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
