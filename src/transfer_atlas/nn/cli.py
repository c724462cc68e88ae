"""Entry points of scripts/fetch_weights.py and scripts/convert_weights.py (torch and the
hubs load after argument parsing)."""

from __future__ import annotations

import argparse
import json
import sys


def fetch_weights(argv: list[str] | None = None) -> int:
    """Fetch a model's hub weights (timm / Hugging Face, torchvision) once, as safetensors."""
    p = argparse.ArgumentParser(description=fetch_weights.__doc__)
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


def convert_weights(argv: list[str] | None = None) -> int:
    """Convert a checkpoint shipped in an installed distribution to safetensors, once."""
    p = argparse.ArgumentParser(description=convert_weights.__doc__)
    p.add_argument("--spec", required=True, help="model spec as JSON (arch, weights.package)")
    p.add_argument("--out", required=True, help="output .safetensors path (a .json goes beside)")
    args = p.parse_args(argv)
    from transfer_atlas.nn import package_weights

    try:
        info = package_weights.convert(json.loads(args.spec), args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    src = info["source"]
    print(
        f"{src['distribution']} {src['version']}: {src['file']} (sha256 {src['sha256']}) -> "
        f"{args.out} (sha256 {info['sha256']}, {info['tensors']} tensors placed)"
    )
    return 0
