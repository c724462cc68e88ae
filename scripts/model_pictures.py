#!/usr/bin/env python
"""First-layer filters and feature maps of one model's pretrained weights (JSON of PNGs)."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="model name (for the report)")
    p.add_argument("--spec", required=True, help="model spec as JSON")
    p.add_argument("--weights", required=True, help="pretrained weights (.safetensors)")
    p.add_argument("--data", required=True, help="prepared target dataset (one test image)")
    p.add_argument(
        "--image", type=int, default=0, help="position in the test split of the image to show"
    )
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from transfer_atlas.core import atomic
    from transfer_atlas.data import prepared as data
    from transfer_atlas.report import model_pictures

    prep = data.load(args.data)
    if not 0 <= args.image < len(prep.test_idx):
        p.error(
            f"report.feature_map_image = {args.image}, but {Path(args.data).name}'s test split "
            f"has {len(prep.test_idx)} images (use 0..{len(prep.test_idx) - 1})"
        )
    pics = model_pictures.pictures(
        json.loads(args.spec), args.weights, prep, Path(args.data).name, image_pos=args.image
    )
    text = json.dumps({"model": args.model, **pics}, separators=(",", ":"))
    atomic.write_text(args.out, text)
    print(f"{args.out}: {len(text) / 1e3:.1f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
