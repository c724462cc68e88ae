"""Local Parquet files with an image-bytes column and a label column.

This is how Hugging Face ``datasets`` keep an image dataset on disk
(``data/train-00000-of-00002.parquet``): the image column is a struct
``{bytes, path}`` (or plain bytes), the label column an integer ``ClassLabel`` whose
names are in the file's ``huggingface`` schema metadata, or a string. Only the label
column is read here (column projection); images are read one row group at a time by
the decoding workers (``data.stream``). No network is ever used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from transfer_atlas.data.checks import DataError, regular_file
from transfer_atlas.data.loaders import DataMissing
from transfer_atlas.data.stream import Pending


def _files(root: Path, pattern: str) -> list[Path]:
    """The files ``pattern`` matches in ``root`` (or ``root`` itself), all regular files:
    a FIFO or device matched by the glob is refused by name, never opened."""
    found = sorted(p for p in root.glob(pattern) if not p.is_dir()) if root.is_dir() else [root]
    for p in found:
        regular_file(p, str(p))
    return found


def _label_kind(path: Path, schema, label_col: str) -> str:
    """``int`` or ``str``: the label column's type; anything else is refused (a float
    label 1.9 has no class, and truncating it would invent one)."""
    import pyarrow as pa

    kind = schema.field(label_col).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "str"
    raise DataError(
        f"{path}: column '{label_col}' holds {kind} values; labels must be integers "
        "(class ids) or strings (class names)"
    )


def _place(pf, index: int) -> str:
    """Row ``index`` of a file as row group and row, like the decoding errors."""
    for group in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        if index < n:
            return f"row group {group}, row {index}"
        index -= n
    return f"row {index}"


def _check_labels(path: Path, pf, labels: list, label_col: str) -> None:
    for i, v in enumerate(labels):
        if v is None or (isinstance(v, str) and not v.strip()):
            raise DataError(f"{path}, {_place(pf, i)}: empty '{label_col}' value")


def _hf_names(schema, label_col: str) -> list[str] | None:
    """Class names a Hugging Face ``ClassLabel`` keeps in the schema metadata."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        feature = json.loads(raw)["info"]["features"][label_col]
    except (ValueError, KeyError, TypeError):
        return None
    names = feature.get("names") if isinstance(feature, dict) else None
    return [str(n) for n in names] if names else None


def _check_columns(path: Path, schema, image_col: str, label_col: str) -> None:
    import pyarrow as pa

    missing = [c for c in (image_col, label_col) if c not in schema.names]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing} (has {schema.names}); "
            "set image_col / label_col in the dataset's source"
        )
    kind = schema.field(image_col).type
    is_bytes = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    if not is_bytes and not (pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0):
        raise DataError(
            f"{path}: column '{image_col}' is {kind}, not image bytes "
            "(binary, or a struct with a 'bytes' field)"
        )


def load_parquet(
    root: str,
    train: str = "**/*.parquet",
    test: str | None = None,
    image_col: str = "image",
    label_col: str = "label",
    class_names: list | None = None,
    image_size: int = 64,
    channels: int = 3,
    resize: str = "stretch",
    max_pixels: int | None = None,
    **_,
):
    """Parquet files under ``root`` (or the one file ``root``): ``train`` and ``test``
    are globs inside it; files matching ``test`` are the dataset's own test split."""
    base = Path(root)
    if not base.exists():
        raise DataMissing(f"Parquet dataset not found: {base} (fetch it with `dvc pull data`)")
    test_files = _files(base, test) if test else []
    train_files = [p for p in _files(base, train) if p not in set(test_files)]
    if not train_files:
        raise DataError(f"{base}: no Parquet files match '{train}'")
    if test and not test_files:
        raise DataError(f"{base}: no Parquet files match test '{test}'")
    refs, raw, is_test, names, kinds, files = [], [], [], class_names, {}, []
    for path, in_test in [(p, False) for p in train_files] + [(p, True) for p in test_files]:
        pf, labels = _read_labels(path, image_col, label_col, kinds)
        names = names or _hf_names(pf.schema_arrow, label_col)
        files.append((len(raw), path, pf))
        raw += labels
        is_test += [in_test] * len(labels)
        for group in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(group).num_rows
            refs += [(str(path), group, row, image_col) for row in range(n)]
    if not raw:
        raise DataError(f"{base}: empty dataset (no rows)")
    labels, names = _encode_labels(base, raw, names, files, label_col)
    images = Pending(refs, "parquet", image_size, channels, resize, max_pixels)
    return images, labels, names, (np.asarray(is_test) if test else None)


def _read_labels(path: Path, image_col: str, label_col: str, kinds: dict):
    """(ParquetFile, its labels) of one file, checked;
    ``kinds`` (label type -> first file with it) refuses a mix of ids and names."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    _check_columns(path, schema, image_col, label_col)
    kind = _label_kind(path, schema, label_col)
    kinds.setdefault(kind, path)
    if len(kinds) > 1:
        other, where = next((k, p) for k, p in kinds.items() if k != kind)
        raise DataError(
            f"{path}: column '{label_col}' holds {kind} labels but {where} holds "
            f"{other} labels; use one type (class ids or class names) in every file"
        )
    try:
        labels = pf.read(columns=[label_col]).column(label_col).to_pylist()
    except Exception as exc:  # pyarrow's errors for a damaged column chunk vary
        raise DataError(f"{path}: column '{label_col}' unreadable ({exc})") from None
    _check_labels(path, pf, labels, label_col)
    return pf, labels


def _encode_labels(base: Path, raw: list, names, files: list, label_col: str):
    """(int64 labels, class names) from the files' raw labels (names or ids)."""
    if all(isinstance(v, str) for v in raw):
        names = [str(n) for n in names] if names else sorted(set(raw))
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted(set(raw) - set(index))
        if unknown:
            raise DataError(f"{base}: label(s) {unknown[:5]} not in class_names {names}")
        labels = np.asarray([index[v] for v in raw], np.int64)
    else:
        labels = np.asarray(raw, np.int64)
        names = [str(n) for n in names] if names else [str(i) for i in range(labels.max() + 1)]
        bad = np.flatnonzero((labels < 0) | (labels >= len(names)))
        if len(bad):
            start, path, pf = [f for f in files if f[0] <= bad[0]][-1]
            raise DataError(
                f"{path}, {_place(pf, int(bad[0]) - start)}: '{label_col}' {labels[bad[0]]} "
                f"is outside 0..{len(names) - 1} ({len(names)} class names)"
            )
    return labels, names
