"""``train.py fit --help`` shows every ``model.*`` and ``data.*`` argument's whole description,
as written in the class docstrings (the README says every key is documented there)."""

import dataclasses
import inspect
import re

import pytest
from docstring_parser import parse

import train
from datamodules.algonauts import AlgonautsDataModule
from lightning_modules.settings import GROUPS
from lightning_modules.system import EncodingModel

#: Set by train.py from the data (shown under "Linked arguments", not as options).
LINKED = {"model.num_frames", "model.image_size", "model.voxel_counts"}


@pytest.fixture(scope="module")
def help_text():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        train.main(["fit", "--help"])
    assert exit_info.value.code == 0
    return out.getvalue()


def _option_help(help_text: str, option: str) -> str:
    """The help block of ``--option`` (its lines up to the next option), without the "(type: ...)" tail."""
    lines = help_text.splitlines()
    pattern = re.compile(rf"\s+--{re.escape(option)}([ ,]|$)")
    start = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
    assert start is not None, f"--{option} is not in train.py fit --help"
    block = [lines[start].split(f"--{option}", 1)[1]]
    for line in lines[start + 1:]:
        if not line.strip() or re.match(r"\s+--", line) or not line.startswith(" "):
            break
        block.append(line)
    text = " ".join(block)
    # Drop the option's metavar (e.g. "LR", "{true,false}", ", --model.backbone.layers+ LAYERS") and the type.
    return text.rsplit("(type:", 1)[0]


def _squash(text: str) -> str:
    """No whitespace at all: the help wraps lines (and breaks after hyphens) where it likes."""
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("prefix, cls", [("model", EncodingModel), ("data", AlgonautsDataModule)])
def test_every_argument_shows_its_whole_description(help_text, prefix, cls):
    documented = {p.arg_name: p.description for p in parse(inspect.getdoc(cls)).params}
    arguments = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    missing_docs = [name for name in arguments if not (documented.get(name) or "").strip()]
    assert not missing_docs, f"{cls.__name__} arguments without a docstring description: {missing_docs}"
    for name in arguments:
        option = f"{prefix}.{name}"
        if option in LINKED:
            continue
        if prefix == "model" and name in GROUPS:
            _check_group(help_text, option, GROUPS[name])
            continue
        shown = _option_help(help_text, option)
        assert len(_squash(shown)) > len(_squash(option)), f"--{option} has no description in --help"
        assert _squash(documented[name]) in _squash(shown), (
            f"--{option}: --help shows {shown.strip()!r}, the docstring says {documented[name]!r}")


def _check_group(help_text: str, option: str, group: type) -> None:
    """Each field of a settings group (``--model.ridge.folds``) shows its whole description."""
    documented = {p.arg_name: p.description for p in parse(inspect.getdoc(group)).params}
    for field in dataclasses.fields(group):
        assert (documented.get(field.name) or "").strip(), f"{group.__name__}.{field.name} has no description"
        shown = _option_help(help_text, f"{option}.{field.name}")
        assert _squash(documented[field.name]) in _squash(shown), (
            f"--{option}.{field.name}: --help shows {shown.strip()!r}, the docstring says "
            f"{documented[field.name]!r}")


def test_linked_arguments_are_documented_too():
    documented = {p.arg_name for p in parse(inspect.getdoc(EncodingModel)).params if p.description}
    assert {name.split(".", 1)[1] for name in LINKED} <= documented
