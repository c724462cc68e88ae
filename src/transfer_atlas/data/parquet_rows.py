"""Decoding the images of one Parquet row group, streamed once.

A task names a file, a row group and the rows of it to decode (sorted). The group's
image column is read in batches of BATCH rows through a buffered stream, so a worker
holds one batch and one read buffer, never the group: a 100k-row group costs what a
hundred 1,000-row groups cost. Rows before the first wanted one are read (not
decoded) and skipped; reading stops after the last.
"""

from __future__ import annotations

import io

from transfer_atlas.data import decode
from transfer_atlas.data.checks import DataError

#: Rows per batch read from a row group.
BATCH = 64
#: Bytes a reader buffers per column chunk; with pre_buffer off, that bounds what it
#: holds (pyarrow otherwise reads the whole column chunk of the group first).
READ_BUFFER = 4 << 20


def where(path, group: int, row: int) -> str:
    return f"{path}, row group {group}, row {row}"


def image_bytes(value, place: str) -> bytes:
    """The encoded image of one Parquet cell (a ``{bytes, path}`` struct or bytes), or
    DataError naming ``place``."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if data is None:
            raise DataError(
                f"{place}: image stored as a path ({value.get('path')!r}), not bytes; "
                "save the dataset with the images embedded"
            )
    else:
        data = value
    if not isinstance(data, bytes | bytearray) or not data:
        raise DataError(f"{place}: no image bytes (got {type(data).__name__})")
    return bytes(data)


def decode_rows(path, group, column, rows, size, channels, resize, max_pixels):
    """(uint8 row, digest) for each of ``rows`` of row group ``group``, in order."""
    wanted = iter(rows)
    nxt = next(wanted, None)
    offset = 0
    for batch in _batches(path, group, column):
        cells = batch.column(0)
        end = offset + len(batch)
        while nxt is not None and nxt < end:
            place = where(path, group, nxt)
            data = image_bytes(cells[nxt - offset].as_py(), place)
            yield decode.decode_row(io.BytesIO(data), size, channels, resize, place, max_pixels)
            nxt = next(wanted, None)
        if nxt is None:
            return
        offset = end
    if nxt is not None:
        raise DataError(f"{where(path, group, nxt)}: row missing (the file changed?)")


def _batches(path, group: int, column: str):
    """The group's ``column`` in batches; a damaged file is DataError naming it."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False)
        yield from pf.iter_batches(BATCH, row_groups=[group], columns=[column], use_threads=False)
    except Exception as exc:  # pyarrow's errors for damaged pages vary (ArrowInvalid, OSError)
        raise DataError(f"{path}, row group {group}: unreadable ({exc})") from None
