#!/usr/bin/env python
"""Fetch a model's hub weights (timm / Hugging Face, torchvision) once, as safetensors."""

import argparse
import json
import sys

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--spec", required=True, help="model spec as JSON (arch, arch_args, weights)")
    p.add_argument("--out", required=True, help="output .safetensors path under data/weights/")
    args = p.parse_args(argv)
    from transfer_atlas.nn import weights

    try:
        sha = weights.fetch_hub(json.loads(args.spec), args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
