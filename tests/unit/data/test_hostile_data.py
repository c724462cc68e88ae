"""Hostile and broken image data: preparation stops with a message naming the culprit.

Every case runs the preparation users run: ``data.prepared.prepare`` (what the
``prepare_dataset`` step calls), and for a few cases the ``scripts/prepare_dataset.py``
entry point itself, checking that it writes nothing. The files are real PNG, JPEG and
CSV files, broken the way real data breaks.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from transfer_atlas.data import prepared as data
from transfer_atlas.data.checks import DataError
from transfer_atlas.testing import standin


def png_bytes(color=128, size=(8, 8), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, color).save(buf, format=fmt)
    return buf.getvalue()


def prepare(source: dict, **extra):
    return data.prepare({"source": source, "split": {"val": 0.2, "test": 0.2, "seed": 0}, **extra})


def prepare_script(tmp_path, source: dict) -> tuple[subprocess.CompletedProcess, list]:
    """Run the ``prepare_dataset`` entry point; (process, files it left in its output)."""
    out = tmp_path / "out"
    spec = json.dumps({"source": source, "split": {"val": 0.2, "test": 0.2, "seed": 0}})
    cmd = [sys.executable, str(ROOT / "scripts" / "prepare_dataset.py"), "--name", "d"]
    proc = subprocess.run(
        [*cmd, "--spec", spec, "--out", str(out)], capture_output=True, text=True, timeout=120
    )
    return proc, sorted(p.name for p in out.glob("*")) if out.exists() else []


# ------------------------------------------------------------------ ImageFolder trees


@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "tree"
    for cls in ("ants", "bees"):
        (root / cls).mkdir(parents=True)
        for i in range(3):  # distinct pixels: an image under two labels is refused
            (root / cls / f"{i}.png").write_bytes(png_bytes(40 * i + (cls == "bees") * 20))
    (root / "bees" / "3.jpg").write_bytes(png_bytes(200, (32, 32), "JPEG"))
    return root


def tree_source(root) -> dict:
    return {"kind": "image_folder", "root": str(root), "image_size": 8}


def test_good_image_tree_passes(image_tree):
    prep = prepare(tree_source(image_tree))
    assert prep.class_names == ["ants", "bees"]
    assert np.bincount(prep.labels).tolist() == [3, 4]


def make_bomb(r):
    """A 4000 x 4000 PNG of a few kB: past PIL's pixel limit (lowered in the test)."""
    (r / "ants/big.png").write_bytes(png_bytes(size=(4000, 4000)))


@pytest.mark.parametrize(
    "break_it, culprit, expected",
    [
        (
            lambda r: (r / "ants/1.png").write_bytes(png_bytes(size=(64, 64))[:60]),
            "ants/1.png",
            "broken image",
        ),
        (
            lambda r: (r / "bees/3.jpg").write_bytes((r / "bees/3.jpg").read_bytes()[:200]),
            "bees/3.jpg",
            "broken image",
        ),
        (
            lambda r: (r / "ants/notes.txt").write_text("hello"),
            "ants/notes.txt",
            "not an image file in ImageFolder tree",
        ),
        (
            lambda r: ((r / "bees/sub").mkdir(), (r / "bees/sub/labels.csv").write_text("x")),
            "bees/sub/labels.csv",
            "not an image file in ImageFolder tree",
        ),
        (
            lambda r: (r / "ants/fake.png").write_text("not really a png"),
            "ants/fake.png",
            "not an image file PIL can read",
        ),
        (lambda r: (r / "wasps").mkdir(), "wasps", "class 'wasps' has no images"),
        (
            lambda r: (r / "stray.png").write_bytes(png_bytes()),
            "stray.png",
            "image outside any class folder",
        ),
        (make_bomb, "ants/big.png", "image too large"),
    ],
    ids=[
        "truncated PNG",
        "truncated JPEG",
        "non-image file",
        "non-image file in a sub-folder",
        "text named .png",
        "empty class",
        "image outside the class folders",
        "decompression bomb",
    ],
)
def test_broken_image_tree_names_the_file(image_tree, break_it, culprit, expected, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    break_it(image_tree)
    with pytest.raises(DataError) as err:
        prepare(tree_source(image_tree))
    msg = str(err.value)
    assert msg.startswith(str(image_tree / culprit)) and expected in msg


def test_file_manager_junk_and_dotfiles_are_skipped(image_tree):
    ants = image_tree / "ants"
    for junk in (".DS_Store", "Thumbs.db", "desktop.ini", ".gitkeep", "._0.png"):
        (ants / junk).write_bytes(b"\0\5\7")  # ._0.png: macOS AppleDouble twin, not a PNG
    (ants / ".ipynb_checkpoints").mkdir()
    (ants / ".ipynb_checkpoints" / "notes.txt").write_text("hello")
    (image_tree / ".git").mkdir()  # a hidden folder is no class
    (image_tree / "README.txt").write_text("about this dataset")  # nor is a file at the top
    prep = prepare(tree_source(image_tree))
    assert prep.class_names == ["ants", "bees"]
    assert np.bincount(prep.labels).tolist() == [3, 4]


def test_symlinked_sub_folders_are_read_and_a_link_cycle_is_refused(image_tree, tmp_path):
    more = tmp_path / "more_ants"
    more.mkdir()
    (more / "9.png").write_bytes(png_bytes(99))
    os.symlink(more, image_tree / "ants" / "more")
    prep = prepare(tree_source(image_tree))
    assert np.bincount(prep.labels).tolist() == [4, 4]
    os.symlink(image_tree / "ants", more / "back")  # ants/more/back -> ants again
    with pytest.raises(DataError) as err:
        prepare(tree_source(image_tree))
    msg = str(err.value)
    assert msg.startswith(
        f"{image_tree / 'ants/more/back'}: the same folder as {image_tree / 'ants'}"
    )


def test_empty_image_tree(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty dataset"):
        prepare(tree_source(tmp_path / "empty"))
    (tmp_path / "empty" / "only").mkdir()
    with pytest.raises(DataError, match="one class folder"):
        prepare(tree_source(tmp_path / "empty"))


def test_test_split_is_checked_like_the_train_split(tmp_path):
    root = tmp_path / "hymenoptera"
    standin.write_image_folder(root, ["ants", "bees"], size=8, splits={"train": 4, "val": 2})
    (root / "val" / "bees" / "notes.txt").write_text("hello")
    src = {**tree_source(root), "train_dir": "train", "test_dir": "val"}
    with pytest.raises(DataError) as err:
        prepare(src, split={"test": "source", "val": 0.2})
    assert str(err.value).startswith(str(root / "val" / "bees" / "notes.txt"))


def test_prepare_dataset_entry_point_refuses_a_stray_file_and_writes_nothing(image_tree, tmp_path):
    proc, _ = prepare_script(tmp_path, tree_source(image_tree))
    assert proc.returncode == 0, proc.stderr  # the same tree, untouched, prepares
    for f in (tmp_path / "out").iterdir():  # the *.npy files and meta.json
        f.unlink()
    (image_tree / "ants" / "notes.txt").write_text("hello")
    proc, left = prepare_script(tmp_path, tree_source(image_tree))
    assert proc.returncode == 2
    assert f"{image_tree / 'ants' / 'notes.txt'}: not an image file" in proc.stderr
    assert left == []


# ------------------------------------------------------------------ CSV-labelled folders


@pytest.fixture
def csv_folder(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(6):
        (tmp_path / "img" / f"{i}.png").write_bytes(png_bytes(40 * i))
    (tmp_path / "secret.png").write_bytes(png_bytes())
    return tmp_path


def csv_source(folder, images_dir="img") -> dict:
    src = {"kind": "csv_folder", "csv_path": str(folder / "labels.csv"), "image_size": 8}
    return {**src, "images_dir": str(folder / images_dir)} if images_dir else src


@pytest.mark.parametrize(
    "rows, expected",
    [
        ("image,label\n0.png,a\n1.png,b\n2.png,a\n3.png,b\n4.png,a\n5.png,b\n", None),
        ("image,label\n0.png,a\nmissing.png,b\n", "line 3: image 'missing.png' not found"),
        ("image,label\n../secret.png,a\n", "line 2: image path '../secret.png' leaves"),
        ("image,label\n0.png,a\nsub/../../secret.png,b\n", "line 3: image path 'sub/../.."),
        ("image,label\n,a\n", "line 2: empty 'image' value"),
        ("file,label\n0.png,a\n", "missing column(s) ['image']"),
        ("image,label\n", "empty dataset (no rows)"),
        ('image,label\n0.png,"two\nlines"\n9.png,b\n', "line 4: image '9.png' not found"),
    ],
    ids=[
        "good",
        "missing file",
        "path escape",
        "path escape via a sub-folder",
        "empty cell",
        "no column",
        "empty",
        "line number after a quoted newline",
    ],
)
def test_csv_rows_are_checked(csv_folder, rows, expected):
    (csv_folder / "labels.csv").write_text(rows)
    if expected is None:
        prep = prepare(csv_source(csv_folder))
        assert prep.class_names == ["a", "b"]
        assert [prep.class_names[i] for i in prep.labels] == ["a", "b"] * 3
        return
    with pytest.raises(DataError) as err:
        prepare(csv_source(csv_folder))
    assert str(err.value).startswith(str(csv_folder / "labels.csv")) and expected in str(err.value)


def test_csv_row_leaving_the_csv_folder_is_refused_by_default(tmp_path):
    """The reported case: ``images_dir`` unset, so images are read from the CSV's folder."""
    (tmp_path / "outside.jpg").write_bytes(png_bytes(fmt="JPEG"))
    folder = tmp_path / "leaves"
    folder.mkdir()
    (folder / "0.png").write_bytes(png_bytes())
    (folder / "labels.csv").write_text("image,label\n0.png,a\n../outside.jpg,b\n")
    with pytest.raises(DataError) as err:
        prepare(csv_source(folder, images_dir=None))
    assert str(err.value).startswith(f"{folder / 'labels.csv'}, line 3: image path")


def test_absolute_paths_out_of_the_images_folder_are_refused_links_inside_are_followed(
    csv_folder,
):
    secret = csv_folder / "secret.png"
    (csv_folder / "labels.csv").write_text(f"image,label\n0.png,a\n{secret},b\n")
    with pytest.raises(DataError, match=r"labels.csv, line 3: image path '/.*secret.png' leaves"):
        prepare(csv_source(csv_folder))
    (csv_folder / "labels.csv").write_text("image,label\n0.png,a\nimg/../../secret.png,b\n")
    with pytest.raises(DataError, match=r"line 3: image path 'img/../../secret.png' leaves"):
        prepare(csv_source(csv_folder))
    # a link placed in the images folder by its owner is followed (as DVC's symlink cache
    # type does for every tracked file), wherever it points
    os.symlink(secret, csv_folder / "img" / "link.png")
    rows = "image,label\n0.png,a\n1.png,a\n2.png,a\n3.png,b\n4.png,b\n"
    (csv_folder / "labels.csv").write_text(rows + "link.png,b\n")
    assert prepare(csv_source(csv_folder)).class_names == ["a", "b"]
    # a symlink that stays inside the folder is an ordinary image
    os.symlink(csv_folder / "img" / "5.png", csv_folder / "img" / "inside.png")
    (csv_folder / "labels.csv").write_text(rows + "inside.png,b\n")
    assert prepare(csv_source(csv_folder)).class_names == ["a", "b"]


def test_truncated_image_named_in_a_csv_is_named(csv_folder):
    bad = csv_folder / "img" / "1.png"
    bad.write_bytes(png_bytes(size=(64, 64))[:60])
    (csv_folder / "labels.csv").write_text(
        "image,label\n" + "".join(f"{i}.png,{'ab'[i % 2]}\n" for i in range(6))
    )
    with pytest.raises(DataError, match=re.escape(f"{bad}: broken image")):
        prepare(csv_source(csv_folder))


def test_prepare_dataset_entry_point_refuses_a_csv_escape_and_writes_nothing(csv_folder, tmp_path):
    (csv_folder / "labels.csv").write_text("image,label\n0.png,a\n../secret.png,b\n")
    proc, left = prepare_script(tmp_path, csv_source(csv_folder))
    assert proc.returncode == 2
    assert f"{csv_folder / 'labels.csv'}, line 3: image path '../secret.png' leaves" in proc.stderr
    assert left == []


def test_a_class_the_csv_lacks_is_refused_naming_the_known_ones(csv_folder):
    """The config's ``classes`` is the only list of expected labels a user gives."""
    (csv_folder / "labels.csv").write_text("image,label\n0.png,a\n1.png,b\n2.png,a\n")
    with pytest.raises(ValueError, match=r"class 'zebra' not in dataset \(classes: a, b\)"):
        prepare(csv_source(csv_folder), classes=["a", "zebra"])


# ------------------------------------------------------------------ class counts


def test_classes_without_images_are_refused(tmp_path):
    """MNIST files holding digits 0-2 only: the other seven classes have no images."""
    standin.write_torchvision("mnist", tmp_path, n_classes=3, per_class=4)
    src = {"kind": "torchvision", "name": "mnist", "root": str(tmp_path)}
    with pytest.raises(DataError, match=re.escape(f"{tmp_path} (after classes): empty dataset")):
        prepare(src, classes=[5])
    with pytest.raises(DataError, match=r"class\(es\) with no images: 3, 4, 5, 6, 7, 8, 9"):
        prepare(src)


def test_prepare_refuses_a_class_that_is_not_in_the_data():
    spec = {
        "source": {"kind": "generated", "per_class": 4, "image_size": 8},
        "classes": ["circle", "hexagon"],
    }
    with pytest.raises(ValueError, match="class 'hexagon' not in dataset"):
        data.prepare(spec)
