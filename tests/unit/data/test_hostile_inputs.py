"""Data that cannot fool the study (issue 24): every input of the issue's table either
refused by the real preparation step with a message naming the culprit, or converted
faithfully, with the pixels checked.

Every case goes through ``data.prepared.prepare`` / ``prepare_to`` (what the
``prepare_dataset`` step runs); a sample goes through ``scripts/prepare_dataset.py``
itself, which must exit 2 within seconds, print no traceback and write nothing. The
images are a few pixels wide, so the whole file runs in seconds.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT
from PIL import Image

from transfer_atlas.data import integrity, stream
from transfer_atlas.data import prepared as data
from transfer_atlas.data.checks import DataError

SPLIT = {"val": 0.2, "test": 0.2, "seed": 0}


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def grey(value: int) -> bytes:
    return encode(Image.new("L", (4, 4), value))


@pytest.fixture
def tree(tmp_path):
    """``a/`` and ``b/``, three distinct 4 x 4 grey PNGs each."""
    root = tmp_path / "tree"
    for c, cls in enumerate("ab"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            (root / cls / f"{i}.png").write_bytes(grey(10 + 10 * (3 * c + i)))
    return root


def source(root, **extra) -> dict:
    return {"kind": "image_folder", "root": str(root), "image_size": 4, "channels": 1, **extra}


def prepare(src: dict, **extra):
    return data.prepare({"source": src, "split": SPLIT, **extra})


def refused(src: dict, *culprits, **extra) -> str:
    """The refusal message, checked to start with the first culprit and name the rest."""
    with pytest.raises(DataError) as err:
        prepare(src, **extra)
    msg = str(err.value)
    assert msg.startswith(str(culprits[0])), msg
    for c in culprits[1:]:
        assert str(c) in msg, msg
    return msg


# ------------------------------------------------------------------ pixels kept


def z_row(tree, content: bytes, name="a/z.png", **src):
    """The prepared row of one extra image added last to class ``a``."""
    (tree / name).write_bytes(content)
    return prepare(source(tree, **src)).images[3, ..., 0]


def test_16_bit_grey_keeps_its_range(tree):
    arr = np.array([[1000, 60000, 0, 65535]] * 4, np.uint16)
    row = z_row(tree, encode(Image.fromarray(arr)))
    assert row[0].tolist() == [3, 234, 0, 255]  # v // 256, not 255 everywhere


def test_float_in_0_1_is_scaled_and_outside_refused(tree):
    half = Image.fromarray(np.full((4, 4), 0.5, np.float32))
    assert (z_row(tree, encode(half, "TIFF"), "a/z.tif") == 128).all()  # not 0
    (tree / "a/z.tif").unlink()
    (tree / "b/hot.tif").write_bytes(
        encode(Image.fromarray(np.full((4, 4), 7.5, np.float32)), "TIFF")
    )
    assert "float pixels range 7.5..7.5" in refused(source(tree), tree / "b/hot.tif")


def test_32_bit_integer_pixels_are_refused(tree):
    (tree / "a/i.tif").write_bytes(encode(Image.fromarray(np.full((4, 4), 7, np.int32)), "TIFF"))
    assert "pixel mode 'I'" in refused(source(tree), tree / "a/i.tif")


def test_exif_orientation_is_applied(tree):
    pic = Image.fromarray((np.arange(16).reshape(4, 4) * 15).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    row = z_row(tree, encode(pic, exif=exif))
    np.testing.assert_array_equal(row, np.asarray(pic.transpose(Image.Transpose.ROTATE_270)))


def test_an_animated_image_gives_its_first_frame(tree):
    frames = [Image.new("L", (4, 4), 111), Image.new("L", (4, 4), 222)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert (z_row(tree, gif, "a/z.gif") == 111).all()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (the data would not fit)."""
    real = grey(0)
    ihdr = struct.pack(">II", width, height) + real[24:29]
    chunk = b"IHDR" + ihdr
    return (
        real[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + real[33:]
    )


def test_pixel_limit_refuses_before_decoding(tree):
    (tree / "a/big.png").write_bytes(png_header_claiming(12000, 12000))
    msg = refused(source(tree), tree / "a/big.png", "12000 x 12000 = 144,000,000 pixels")
    assert "max_pixels (89,478,485)" in msg  # the default: PIL's warning threshold
    (tree / "a/big.png").write_bytes(encode(Image.new("L", (40, 40), 99)))
    refused(
        source(tree, max_pixels=1000), tree / "a/big.png", "1,600 pixels exceeds max_pixels (1,000)"
    )


# ------------------------------------------------------------------ only regular files


def test_fifo_socket_and_device_are_refused_by_name_unopened(tree, monkeypatch):
    os.mkfifo(tree / "a/fifo.jpg")  # opening it would block for ever
    assert "a FIFO" in refused(source(tree), tree / "a/fifo.jpg")
    (tree / "a/fifo.jpg").unlink()
    sock = socket.socket(socket.AF_UNIX)
    try:
        monkeypatch.chdir(tree / "b")  # a relative name: socket paths are limited to 108 bytes
        sock.bind("sock.png")
        assert "a socket" in refused(source(tree), tree / "b/sock.png")
    finally:
        sock.close()
    (tree / "b/sock.png").unlink()
    os.symlink("/dev/zero", tree / "b/zero.png")  # reading it would never end
    assert "a character device" in refused(source(tree), tree / "b/zero.png")


def test_fifo_in_a_csv_and_parquet_glob_is_refused(tmp_path):
    (tmp_path / "img").mkdir()
    os.mkfifo(tmp_path / "img/f.png")
    (tmp_path / "labels.csv").write_text("image,label\nf.png,a\n")
    src = {"kind": "csv_folder", "csv_path": str(tmp_path / "labels.csv")}
    refused({**src, "images_dir": str(tmp_path / "img")}, tmp_path / "labels.csv, line 2", "a FIFO")
    os.mkfifo(tmp_path / "x.parquet")
    refused({"kind": "parquet", "root": str(tmp_path)}, tmp_path / "x.parquet", "a FIFO")


def test_a_link_loop_is_refused_naming_both_paths(tree):
    os.symlink("..", tree / "a/loop")  # a/loop/b/... would give class a all of b's images
    msg = refused(source(tree), tree / "a/loop", f"the same folder as {tree}")
    assert "link loop" in msg


def test_one_file_linked_into_two_classes_is_refused(tree):
    os.symlink(tree / "a/0.png", tree / "b/9.png")
    refused(source(tree), tree / "b/9.png", f"the same file as {tree / 'a/0.png'}")


# ------------------------------------------------------------------ no leakage


def test_the_same_bytes_under_two_labels_are_refused(tree):
    (tree / "b/copy.png").write_bytes((tree / "a/1.png").read_bytes())
    msg = refused(source(tree), tree / "a/1.png", tree / "b/copy.png", "identical pixels")
    assert "'a'" in msg and "'b'" in msg


def test_the_same_pixels_in_other_bytes_are_refused(tree):
    same = encode(Image.open(tree / "a/2.png"), "BMP")
    (tree / "a/twin.bmp").write_bytes(same)
    refused(source(tree), tree / "a/2.png", tree / "a/twin.bmp", "the same picture twice")


def test_a_duplicate_csv_row_is_refused_with_both_line_numbers(tmp_path):
    for i in range(6):
        (tmp_path / f"{i}.png").write_bytes(grey(20 * i))
    rows = "".join(f"{i}.png,{'ab'[i % 2]}\n" for i in range(6))
    (tmp_path / "l.csv").write_text("image,label\n" + rows + "0.png,a\n")
    src = {"kind": "csv_folder", "csv_path": str(tmp_path / "l.csv"), "image_size": 4}
    refused(src, tmp_path / "l.csv", "lines 2 and 8: the same image listed twice")
    (tmp_path / "l.csv").write_text("image,label\n" + rows + "./2.png,b\n")  # another spelling
    refused(src, tmp_path / "l.csv", "lines 4 and 8")


# ------------------------------------------------------------------ splits


def test_two_images_per_class_is_refused_naming_the_counts(tmp_path):
    for c in "ab":
        (tmp_path / c).mkdir()
        for i in range(2):
            (tmp_path / c / f"{i}.png").write_bytes(grey(ord(c) + 9 * i))
    msg = refused(source(tmp_path), tmp_path, "'a' 2/0/0", "'b' 2/0/0")
    assert "val and test split(s) would be empty" in msg


def parquet(path, labels, images=None, kind=None):
    images = images or [grey(i % 256) for i in range(len(labels))]
    table = pa.table({"image": pa.array(images, pa.binary()), "label": pa.array(labels, kind)})
    pq.write_table(table, path)
    return {"kind": "parquet", "root": str(path), "image_size": 4}


def test_ten_thousand_classes_of_one_image_are_refused_before_decoding(tmp_path):
    src = parquet(tmp_path / "p.parquet", [f"c{i:05d}" for i in range(10_000)], [b"x"] * 10_000)
    msg = refused(src, tmp_path / "p.parquet", "10000 of 10000 class(es) would lack")
    assert "'c00000' 1/0/0" in msg and "and 9995 more" in msg


# ------------------------------------------------------------------ labels as meant


def test_parquet_labels_must_be_whole_ids_or_names(tmp_path):
    src = parquet(tmp_path / "f.parquet", [0.2, 1.9] * 3)
    refused(src, tmp_path / "f.parquet", "column 'label' holds double values")
    src = parquet(tmp_path / "l.parquet", [[0], [1]] * 3)
    refused(src, tmp_path / "l.parquet", "column 'label' holds list<")
    src = parquet(tmp_path / "e.parquet", ["a", "b", "", "a", "b", "a"])
    refused(src, tmp_path / "e.parquet", "row group 0, row 2: empty 'label' value")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    parquet(mixed / "0.parquet", ["0", "1", "0"])
    parquet(mixed / "1.parquet", [0, 1, 1], [grey(100 + i) for i in range(3)])
    msg = refused({"kind": "parquet", "root": str(mixed)}, mixed / "1.parquet", mixed / "0.parquet")
    assert "column 'label' holds int labels" in msg


def test_a_latin_1_csv_is_refused_naming_file_and_line(tmp_path):
    (tmp_path / "l.csv").write_bytes("image,label\n0.png,a\n1.png,caf\xe9\n".encode("latin-1"))
    src = {"kind": "csv_folder", "csv_path": str(tmp_path / "l.csv")}
    refused(src, tmp_path / "l.csv, line 3", "not UTF-8 text (byte 0xe9")


# ------------------------------------------------------------------ Parquet streams


def test_one_big_row_group_is_shared_by_the_workers_and_read_in_order(tmp_path):
    n = 300
    imgs = [encode(Image.new("L", (4, 1 + i // 250), i % 250)) for i in range(n)]
    src = parquet(tmp_path / "one.parquet", ["ab"[i % 2] for i in range(n)], imgs)
    images = data.plan({"source": src, "split": SPLIT})[0]
    tasks = images.tasks(workers=2)
    assert len(tasks) == 2 and [t[1][1][1] for t in tasks] == [0, 0]  # one group, two halves
    serial = prepare(src)
    par = data.prepare_to({"source": src, "split": SPLIT}, tmp_path / "out", workers=2)
    np.testing.assert_array_equal(np.asarray(par.images), serial.images)
    # many small groups: one task per group
    pq.write_table(
        pq.read_table(tmp_path / "one.parquet"), tmp_path / "g.parquet", row_group_size=30
    )
    src = {**src, "root": str(tmp_path / "g.parquet")}
    assert len(data.plan({"source": src, "split": SPLIT})[0].tasks(workers=2)) == 10
    np.testing.assert_array_equal(prepare(src).images, serial.images)


# ------------------------------------------------------------------ prepared files


@pytest.fixture
def prepared_dir(tree, tmp_path):
    out = tmp_path / "prep"
    data.prepare_to({"source": source(tree), "split": SPLIT}, out)
    return out


def corrupt_meta(out, text):
    (out / "meta.json").write_text(text)


@pytest.mark.parametrize(
    "damage, culprit, expected",
    [
        (
            lambda o: corrupt_meta(o, (o / "meta.json").read_text()[:40]),
            "meta.json",
            "not valid JSON",
        ),
        (lambda o: corrupt_meta(o, "[]"), "meta.json", "a JSON list, not an object"),
        (lambda o: (o / "images.npy").write_bytes(b""), "images.npy", "not a readable .npy"),
        (lambda o: (o / "labels.npy").write_text("hello"), "labels.npy", "not a readable .npy"),
        (lambda o: np.save(o / "labels.npy", np.zeros(3, np.float32)), "labels.npy", "float32"),
    ],
    ids=[
        "truncated meta.json",
        "meta.json = []",
        "0-byte images.npy",
        "text as .npy",
        "wrong dtype",
    ],
)
def test_corrupted_prepared_files_are_refused_naming_the_path(
    prepared_dir, damage, culprit, expected
):
    damage(prepared_dir)
    with pytest.raises(integrity.PreparedError) as err:
        data.load(prepared_dir)
    assert str(err.value).startswith(str(prepared_dir / culprit)) and expected in str(err.value)


def test_any_changed_row_or_meta_is_caught_before_a_job_uses_it(prepared_dir):
    images = np.load(prepared_dir / "images.npy", mmap_mode="r+")
    images[4, 1, 2, 0] ^= 1  # one bit of one row
    images.flush()
    del images
    with pytest.raises(integrity.PreparedError, match="changed since the dataset was prepared"):
        data.load(prepared_dir)
    images = np.load(prepared_dir / "images.npy", mmap_mode="r+")
    images[4, 1, 2, 0] ^= 1
    images.flush()
    del images
    assert data.load(prepared_dir).class_names == ["a", "b"]
    meta = json.loads((prepared_dir / "meta.json").read_text())
    meta["class_names"] = ["b", "a"]
    (prepared_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(integrity.PreparedError, match=str(prepared_dir)):
        data.load(prepared_dir)


def test_a_fine_tune_on_corrupted_data_exits_2_naming_the_file(prepared_dir, capsys):
    from transfer_atlas.train import finetune

    corrupt_meta(prepared_dir, "[]")
    job = {"model_spec": {"train": {}}, "seed": 0, "init": "scratch"}
    argv = ["finetune", "--job", json.dumps(job), "--data", str(prepared_dir), "--out", "x.json"]
    assert finetune.main([*argv, "--device", "cpu"]) == 2
    assert f"error: {prepared_dir / 'meta.json'}: a JSON list" in capsys.readouterr().err


def test_text_passed_as_a_pt_checkpoint_is_refused_naming_it(tmp_path):
    from transfer_atlas.nn import weights

    (tmp_path / "w.pt").write_text("hello world\n")
    with pytest.raises(weights.WeightsError, match=f"^{tmp_path / 'w.pt'}: refused"):
        weights.load_state(tmp_path / "w.pt")


# ------------------------------------------------------------------ the entry point


def fifo_case(root):
    os.mkfifo(root / "a/fifo.jpg")
    return root / "a/fifo.jpg"


def loop_case(root):
    os.symlink("..", root / "a/loop")
    return root / "a/loop"


def dup_case(root):
    (root / "b/copy.png").write_bytes((root / "a/0.png").read_bytes())
    return root / "a/0.png"


def float_out_of_range_case(root):
    (root / "b/f.tif").write_bytes(encode(Image.fromarray(np.full((4, 4), -1, np.float32)), "TIFF"))
    return root / "b/f.tif"


@pytest.mark.parametrize("make", [fifo_case, loop_case, dup_case, float_out_of_range_case])
def test_prepare_dataset_script_exits_2_in_seconds_without_traceback(tree, tmp_path, make):
    culprit = make(tree)
    out = tmp_path / "out"
    spec = json.dumps({"source": source(tree), "split": SPLIT})
    cmd = [sys.executable, str(ROOT / "scripts" / "prepare_dataset.py"), "--name", "d"]
    cmd += ["--spec", spec, "--out", str(out), "--workers", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: dataset 'd': {culprit}"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not list(out.iterdir())


def test_stream_tasks_cover_every_image_once():
    refs = [("f", g, r, "image") for g, n in ((0, 1000), (1, 5), (2, 300)) for r in range(n)]
    pending = stream.Pending(refs, "parquet", 4, 1, "stretch")
    for workers in (1, 2, 8):
        rows = [(t[1][1], r) for _, t in pending.tasks(workers) for r in t[1][3]]
        assert rows == [(g, r) for _, g, r, _ in refs]


def test_damaged_parquet_pages_and_nul_bytes_in_a_csv_are_named(tmp_path):
    imgs = [encode(Image.new("L", (4, 4), i)) for i in range(20)]
    src = parquet(tmp_path / "p.parquet", ["ab"[i % 2] for i in range(20)], imgs)
    raw = bytearray((tmp_path / "p.parquet").read_bytes())
    raw[200:600] = b"\xff" * 400  # inside the image column's pages; the footer intact
    (tmp_path / "p.parquet").write_bytes(bytes(raw))
    refused(src, tmp_path / "p.parquet")
    (tmp_path / "l.csv").write_bytes(b"image,label\n0.png,a\n1.png,\0b\n")
    refused({"kind": "csv_folder", "csv_path": str(tmp_path / "l.csv")}, tmp_path / "l.csv")
