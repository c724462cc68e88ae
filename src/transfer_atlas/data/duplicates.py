"""Exact duplicate images in a prepared dataset: refused, naming both files.

The same picture twice (the same bytes, or other bytes that decode to the same pixels)
either sits in two splits, where the test set scores an image the model trained on,
or under two labels, where one of them is wrong; even twice in one split it weighs
double and lands on one side of the split by the seed. None of these is what a user
means, and dropping one silently would change the dataset behind their back, so
preparation refuses and lists the pairs. The pixels compared are the decoded image
at its own size (after orientation and mode conversion), before resizing.
Array sources (digits, generated shapes, torchvision files) are not checked: their
published splits are what studies compare against.
"""

from __future__ import annotations

import numpy as np

from transfer_atlas.data.checks import DataError

#: Pairs listed in the message.
SHOWN = 5


def refuse_duplicates(digests: np.ndarray, images, labels, splits, names) -> None:
    """Raise DataError naming the first pairs of images whose pixels are identical.

    ``digests``: N x 16 pixel digests (``stream.fill``); ``images``: the
    ``stream.Pending`` list, for the files' names; ``splits``: (train, val, test)."""
    split_of = np.full(len(labels), "-", dtype=object)
    for split, idx in zip(("train", "val", "test"), splits, strict=True):
        split_of[idx] = split
    first, pairs = {}, []
    for i, digest in enumerate(digests):
        j = first.setdefault(digest.tobytes(), i)
        if j != i:
            pairs.append((j, i))
    if not pairs:
        return

    def side(i):
        return f"{split_of[i]} '{names[labels[i]]}'"

    shown = "; ".join(f"{images.name(j)} ({side(j)}) and {images.name(i)} ({side(i)})"
                      for j, i in pairs[:SHOWN])  # fmt: skip
    more = f" and {len(pairs) - SHOWN} more" if len(pairs) > SHOWN else ""
    raise DataError(
        f"{shown}{more}: the same picture twice (identical pixels); {len(pairs)} duplicate(s) "
        "in all. A duplicate across splits leaks test images into training, and under two "
        "labels one label is wrong: remove one image of each pair"
    )
