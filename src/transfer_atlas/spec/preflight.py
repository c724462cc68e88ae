"""Cross-checks of a study that the schema cannot express, cheap enough for DAG time.

Run by :func:`transfer_atlas.spec.validate.validate` (its last step) while Snakemake builds
the DAG (plain Python, no torch). What it cannot know without building a model or reading data is
checked again inside the job, in its first second, before any training:

* freeze depth vs the architecture's group count: here for the project's own
  architectures (``small_cnn``, ``lenet``: counted from ``arch_args``); for timm models
  in the job, right after the model is built;
* training size vs the training split and the number of classes: here for generated
  datasets (their class counts follow from the config); for every dataset in the job,
  from the prepared split;
* a split that leaves a class of a generated dataset without val or test images
  (other sources: at preparation, from the real split);
* duplicate class names, and duplicate keys in the YAML file itself (which YAML
  loaders silently resolve by keeping the last one).
"""

from __future__ import annotations

import os
from pathlib import Path

from transfer_atlas.spec.names import (
    LENET_CHANNELS,
    LENET_DENSE,
    RESIZE_MODES,
    SHAPE_NAMES,
    SMALL_CNN_CHANNELS,
    SMALL_CNN_DENSE,
)
from transfer_atlas.spec.study import ConfigError, Study


def _strict_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: merged keys may be overridden on purpose
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"duplicate key '{key}' at line {key_node.start_mark.line + 1} "
                    f"(first at line {seen[key] + 1}): a name may be defined only once"
                )
            seen[key] = key_node.start_mark.line
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def load_yaml_strict(path: str | os.PathLike):
    """Parse a YAML file, rejecting duplicate keys; errors name the file and line."""
    import yaml

    path = Path(path)
    try:
        fh = open(path)  # a file object, so that YAML's messages name the file
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    try:
        with fh:
            return yaml.load(fh, Loader=_strict_loader())  # noqa: S506 (a SafeLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error in {path}: {exc}") from None


def check_config_files(paths) -> None:
    """Re-read the config files Snakemake loaded, to catch what its loader lets through."""
    for path in paths:
        if str(path).endswith((".yaml", ".yml")) and Path(path).is_file():
            load_yaml_strict(path)


def local_group_count(spec: dict) -> int | None:
    """Freeze groups of the project's own architectures, from the spec alone; else None."""
    arch, args = spec["arch"], spec.get("arch_args") or {}
    if arch == "small_cnn":
        return len(args.get("channels", SMALL_CNN_CHANNELS)) + len(
            args.get("dense", SMALL_CNN_DENSE)
        )
    if arch == "lenet":  # its stages are fixed
        return len(LENET_CHANNELS) + len(LENET_DENSE)
    return None


def _round(x: float) -> int:
    return int(round(x))  # the rounding data.stratified_split uses


def generated_split_counts(spec: dict) -> tuple[int, int] | None:
    """(training images per class, number of classes) of a generated dataset, undrawn."""
    source = spec["source"]
    if source.get("kind") != "generated" or source.get("generator", "shapes") != "shapes":
        return None  # other sources: checked in the job, from the prepared split
    per_class = int(source.get("per_class", 150))
    n_classes = len(spec.get("classes") or SHAPE_NAMES)
    split = spec["split"]
    n_train = per_class - _round(per_class * split["test"]) - _round(per_class * split["val"])
    return n_train, n_classes


#: Types of the generated source's keys (the schema leaves source keys to each kind).
GENERATED_TYPES = {
    "per_class": (int, 1),
    "image_size": (int, 4),
    "seed": (int, 0),
    "noise": (float, 0),
}
#: Types of the numeric source keys, per kind (the schema leaves source keys to each kind).
SOURCE_TYPES = {
    "generated": GENERATED_TYPES,
    "skimage_textures": {"patch_size": (int, 4), "stride": (int, 1), "image_size": (int, 4)},
}


def _source_problems(name: str, source: dict) -> list[str]:
    out = []
    if "resize" in source and source["resize"] not in RESIZE_MODES:
        out.append(
            f"config key 'datasets.{name}.source.resize': '{source['resize']}' is not one "
            f"of: {', '.join(RESIZE_MODES)}"
        )
    for key, (kind, low) in SOURCE_TYPES.get(source.get("kind"), {}).items():
        if key not in source:
            continue
        value = source[key]
        ok = isinstance(value, int | float) if kind is float else isinstance(value, int)
        if isinstance(value, bool) or not ok or value < low:
            out.append(
                f"config key 'datasets.{name}.source.{key}': expected "
                f"{'a number' if kind is float else 'an integer'} >= {low}, got {value!r}"
            )
    return out


def _split_problems(name: str, spec: dict) -> list[str]:
    """A generated dataset's classes must each get validation and test images (other
    sources: preparation checks the real split, naming the class and its counts)."""
    source, split = spec["source"], spec["split"]
    if source.get("kind") != "generated":
        return []
    per_class = int(source.get("per_class", 150))
    shares = {"val": split["val"]} | ({} if split["test"] == "source" else {"test": split["test"]})
    return [
        f"config key 'datasets.{name}.split.{part}': {share} of source.per_class {per_class} "
        f"rounds to no {part} image per class; raise per_class or split.{part}"
        for part, share in shares.items()
        if _round(per_class * share) < 1
    ]


def check_study(study: Study) -> None:
    """Raise one ConfigError listing every cross-check that fails (see module docstring)."""
    problems = []
    g = study.grid
    for name, spec in study.datasets.items():
        source_problems = _source_problems(name, spec["source"])
        problems += source_problems
        if source_problems:
            continue
        classes = [str(c) for c in spec.get("classes") or []]
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        if dupes:
            problems.append(
                f"config key 'datasets.{name}.classes': class(es) listed twice: {', '.join(dupes)}"
            )
        problems += _split_problems(name, spec)
        counts = generated_split_counts(spec)
        if counts and name in g["targets"]:
            per_class, n_classes = counts
            n_train = per_class * n_classes
            if per_class <= 0:
                problems.append(
                    f"config key 'datasets.{name}': a class has no training images "
                    f"(source.per_class {spec['source'].get('per_class')} minus the val and "
                    f"test shares of split {spec['split']} leaves {max(per_class, 0)})"
                )
                continue
            for i, size in enumerate(g["sizes"]):
                if size == "all":
                    continue
                if size > n_train:
                    problems.append(
                        f"config key 'grid.sizes[{i}]': size {size} exceeds the training "
                        f"split of dataset '{name}' ({n_train} images)"
                    )
                elif size < n_classes:
                    problems.append(
                        f"config key 'grid.sizes[{i}]': size {size} is smaller than the "
                        f"number of classes of dataset '{name}' ({n_classes})"
                    )
    for model in g["models"]:
        spec = study.models[model]
        n_groups = local_group_count(spec)
        if n_groups is None or study.pretrain_spec(model) is None:
            continue
        for i, freeze in enumerate(g["freeze"]):
            if freeze != "all" and freeze > n_groups:
                problems.append(
                    f"config key 'grid.freeze[{i}]': freeze depth {freeze} is beyond model "
                    f"'{model}' ({spec['arch']}, {n_groups} groups; use 0..{n_groups} or 'all')"
                )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
