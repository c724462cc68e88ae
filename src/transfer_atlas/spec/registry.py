"""Names the config may use, checked without importing torch, torchvision or timm.

Importing timm costs 15-19 s here, so timm model names are read from timm's own
source files (every ``@register_model`` function) instead of ``timm.list_models``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

from transfer_atlas.spec.names import DEFAULT_TEXTURES, LOCAL_ARCHS, TEXTURE_PHOTOS, TORCHVISION

#: Source kinds and the keys each accepts (besides ``kind``).
SOURCE_KEYS = {
    "sklearn_digits": set(),
    "generated": {"generator", "per_class", "image_size", "seed", "noise"},
    "skimage_faces": set(),
    "skimage_textures": {"photos", "patch_size", "stride", "image_size"},
    "torchvision": {"name", "root", "download"},
    "image_folder": {"root", "image_size", "channels", "train_dir", "test_dir", "resize"},
    "csv_folder": {
        "csv_path",
        "images_dir",
        "image_col",
        "label_col",
        "image_size",
        "channels",
        "merge",
        "top_k",
        "drop",
        "resize",
    },  # fmt: skip
    "parquet": {
        "root",
        "train",
        "test",
        "image_col",
        "label_col",
        "class_names",
        "image_size",
        "channels",
        "resize",
    },  # fmt: skip
}
#: Keys a source kind cannot do without.
SOURCE_REQUIRED = {
    "torchvision": {"name"},
    "image_folder": {"root"},
    "csv_folder": {"csv_path"},
    "parquet": {"root"},
}
GENERATORS = {"shapes"}


def _registered_names(package: str, pattern: str) -> frozenset[str]:
    """Function names a decorator registers in ``package/models/*.py`` (top level only),
    found by reading the source: importing timm or torchvision would cost seconds."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    models_dir = Path(next(iter(spec.submodule_search_locations))) / "models"
    regex = re.compile(pattern)
    names = set()
    for path in models_dir.glob("*.py"):
        names.update(regex.findall(path.read_text(errors="replace")))
    return frozenset(names)


@functools.lru_cache(maxsize=1)
def timm_model_names() -> frozenset[str]:
    return _registered_names("timm", r"@register_model\s*\ndef\s+(\w+)\s*\(")


@functools.lru_cache(maxsize=1)
def torchvision_model_names() -> frozenset[str]:
    """Classification models torchvision registers (detection etc. live in subpackages)."""
    return _registered_names(
        "torchvision", r"@register_model\([^)]*\)\s*(?:@[^\n]*\n\s*)*def\s+(\w+)\s*\("
    )


def _require_known(library: str, name: str, known) -> None:
    """Raise ValueError naming ``name`` (and up to 5 names alike) if ``library`` lacks it."""
    if name not in known:
        close = sorted(n for n in known if n.startswith(name[:4]))[:5]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise ValueError(f"unknown {library} model '{name}'{hint}")


def check_arch(arch: str) -> None:
    """Raise ValueError naming ``arch`` if no builder knows it."""
    if arch in LOCAL_ARCHS:
        return
    if arch.startswith("tv/"):
        _require_known("torchvision", arch[3:], torchvision_model_names())
        return
    if arch.startswith("timm/hf-hub:"):  # a timm model on the Hugging Face hub, by repo id
        if not re.fullmatch(r"timm/hf-hub:[\w.-]+/[\w.-]+", arch):
            raise ValueError(f"'{arch}': use timm/hf-hub:<org>/<repo>")
        return
    if arch.startswith("timm/"):
        name = arch.split("/", 1)[1].split(".", 1)[0]  # drop a pretrained tag
        _require_known("timm", name, timm_model_names())
        return
    raise ValueError(
        f"unknown architecture '{arch}': use one of {sorted(LOCAL_ARCHS)}, "
        "'timm/<model name>' or 'tv/<torchvision model name>'"
    )


def check_source(source: dict) -> None:
    kind = source.get("kind")
    if kind not in SOURCE_KEYS:
        raise ValueError(f"unknown source kind '{kind}' (known: {sorted(SOURCE_KEYS)})")
    extra = set(source) - {"kind"} - SOURCE_KEYS[kind]
    if extra:
        raise ValueError(f"unknown key(s) {sorted(extra)} for source kind '{kind}'")
    need = SOURCE_REQUIRED.get(kind, set()) - set(source)
    if need:
        raise ValueError(f"source kind '{kind}' needs key(s) {sorted(need)}")
    if kind == "torchvision":
        if source["name"] not in TORCHVISION:
            raise ValueError(
                f"unknown torchvision dataset '{source['name']}' (known: {sorted(TORCHVISION)})"
            )
    if kind == "generated" and source.get("generator", "shapes") not in GENERATORS:
        raise ValueError(f"unknown generator '{source['generator']}' (known: {sorted(GENERATORS)})")
    if kind == "skimage_textures":
        _check_photos(source.get("photos", list(DEFAULT_TEXTURES)))


def _check_photos(photos) -> None:
    if not isinstance(photos, list) or len(photos) < 2:
        raise ValueError(f"source key 'photos' must list at least 2 texture photos, got {photos!r}")
    unknown = [p for p in photos if p not in TEXTURE_PHOTOS]
    if unknown:
        raise ValueError(f"unknown texture photo(s) {unknown} (known: {sorted(TEXTURE_PHOTOS)})")
    if len(set(photos)) < len(photos):
        raise ValueError(f"source key 'photos' lists a photo twice: {photos}")
