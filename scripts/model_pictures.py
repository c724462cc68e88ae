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
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from transfer_atlas import atomic, data, model_pictures

    prep = data.load(args.data)
    pics = model_pictures.pictures(json.loads(args.spec), args.weights, prep, Path(args.data).name)
    text = json.dumps({"model": args.model, **pics}, separators=(",", ":"))
    atomic.write_text(args.out, text)
    print(f"{args.out}: {len(text) / 1e3:.1f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
