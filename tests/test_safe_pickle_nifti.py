"""The safe unpickler admits a pickled nibabel Nifti1Image (BOLD Moments' whole-brain mask) with
``allow_nifti=True``, and nothing else beside it."""

import os
import pickle

import nibabel as nib
import numpy as np
import pytest

from datamodules.safe_pickle import UnsafePickleError, load_pickle


def _mask_image() -> nib.Nifti1Image:
    mask = np.zeros((6, 7, 5), np.uint8)
    mask[1:4, 2:5, 1:3] = 1
    affine = np.diag([2.5, 2.5, 2.5, 1.0])
    affine[:3, 3] = [-7.0, -9.0, -5.0]
    return nib.Nifti1Image(mask, affine)


def _whole_brain_tuple(*extra):
    betas = np.arange(2 * 3 * 18, dtype=np.float64).reshape(2, 3, 18)
    return (betas, ["vid0001", "vid0002"], _mask_image(), *extra)


class _Call:
    """Pickles as a call of ``func(*args)``: how a tampered file smuggles code."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _beside_the_image(obj_opcodes: bytes) -> bytes:
    """A protocol-2 pickle of ``(whole-brain tuple, obj)`` where ``obj`` is raw opcodes (written by
    hand: ``pickle.dumps`` refuses to write them)."""
    honest = pickle.dumps(_whole_brain_tuple(), protocol=2)
    return honest[:-1] + obj_opcodes + pickle.TUPLE2 + pickle.STOP


def _write(tmp_path, obj, protocol=4):
    path = tmp_path / "sub-01_organized_betas_task-train_normalized.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_pickled_nifti_image_loads(tmp_path, protocol):
    original = _whole_brain_tuple()
    betas, names, img = load_pickle(_write(tmp_path, original, protocol), allow_nifti=True)
    np.testing.assert_array_equal(betas, original[0])
    assert names == ["vid0001", "vid0002"]
    assert isinstance(img, nib.Nifti1Image)
    np.testing.assert_array_equal(np.asarray(img.dataobj), np.asarray(original[2].dataobj))
    np.testing.assert_array_equal(img.affine, original[2].affine)
    assert img.header["dim"].tolist() == original[2].header["dim"].tolist()
    assert img.get_fdata().shape == (6, 7, 5) and int((img.get_fdata() != 0).sum()) == 18


def test_without_allow_nifti_the_image_is_refused(tmp_path):
    with pytest.raises(UnsafePickleError, match="refusing to load 'nibabel.nifti1.Nifti1Image'"):
        load_pickle(_write(tmp_path, _whole_brain_tuple()))


SMUGGLED = {
    "os.system": _Call(os.system, "echo pwned"),
    "builtins.eval": _Call(eval, "1 + 1"),
    "nibabel.loadsave.load": _Call(nib.load, "/etc/hostname"),  # a nibabel function: opens files
    "nibabel.nifti2.Nifti2Image": nib.Nifti2Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)),
}
RAW_SMUGGLED = {  # a nibabel class the image does not need, created as pickle creates objects
    "nibabel.arrayproxy.ArrayProxy": b"cnibabel.arrayproxy\nArrayProxy\n)\x81}b",
}


@pytest.mark.parametrize("name", sorted(SMUGGLED) + sorted(RAW_SMUGGLED))
def test_anything_else_beside_the_image_is_refused(tmp_path, name):
    if name in RAW_SMUGGLED:
        path = tmp_path / "sub-01_organized_betas_task-train_normalized.pkl"
        path.write_bytes(_beside_the_image(RAW_SMUGGLED[name]))
    else:
        path = _write(tmp_path, _whole_brain_tuple(SMUGGLED[name]))
    refused = rf"normalized.pkl: refusing to load '.*{name.split('.')[-1]}'"
    with pytest.raises(UnsafePickleError, match=refused):
        load_pickle(path, allow_nifti=True)


def test_the_admitted_classes_are_never_called(tmp_path):
    # A constructor call (REDUCE), __new__ with arguments (NEWOBJ), and slot state (setattr through
    # property setters) are not how pickle writes an image: each is refused.
    call = _Call(nib.Nifti1Image, np.zeros((2, 2, 2)), np.eye(4))
    path = _write(tmp_path, _whole_brain_tuple(call))
    refused = "normalized.pkl: refusing to build a call of Nifti1Image"
    with pytest.raises(UnsafePickleError, match=refused):
        load_pickle(path, allow_nifti=True)
    raw = {
        "FileHolder.__new__ with arguments": (
            b"cnibabel.fileholders\nFileHolder\n" b"X\x0d\x00\x00\x00/etc/hostname\x85\x81"
        ),
        "a Nifti1Image state of type tuple": (
            b"cnibabel.nifti1\nNifti1Image\n)\x81" b"N}X\x06\x00\x00\x00headerNs\x86b"
        ),
        "a Nifti1Header state of type list": b"cnibabel.nifti1\nNifti1Header\n)\x81]K\x01ab",
    }
    for what, opcodes in raw.items():
        path.write_bytes(_beside_the_image(opcodes))
        with pytest.raises(UnsafePickleError, match=f"normalized.pkl: refusing to build {what}"):
            load_pickle(path, allow_nifti=True)


def test_a_memory_bomb_inside_the_image_is_refused(tmp_path):
    # The image's voxel array declares far more bytes than it carries: numpy would allocate first.
    honest = pickle.dumps(_whole_brain_tuple(), protocol=2)
    shape = b"K\x06K\x07K\x05\x87"  # (6, 7, 5): three BININT1 and TUPLE3
    assert honest.count(shape) == 1
    path = tmp_path / "bomb.pkl"
    path.write_bytes(honest.replace(shape, b"MX\x02M\xbc\x02M\xf4\x01\x87"))  # (600, 700, 500)
    refused = r"bomb.pkl: refusing to build an array of shape \(600, 700, 500\)"
    with pytest.raises(UnsafePickleError, match=refused):
        load_pickle(path, allow_nifti=True)
