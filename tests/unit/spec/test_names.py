"""The vocabulary (spec/names.py) against the JSON schemas and the code that uses the names.

Every enum, const and pattern of config.schema.json is either checked against spec.names
here or listed in SCHEMA_ONLY (values no code shares); a new one must be one or the other,
so a name cannot be added to the schema and forgotten in the code (or the other way round).
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from transfer_atlas.spec import names
from transfer_atlas.spec.study import SCHEMA_DIR

CONFIG_SCHEMA = json.loads((SCHEMA_DIR / "config.schema.json").read_text())
RECORD_SCHEMA = json.loads((SCHEMA_DIR / "record.schema.json").read_text())

TRAIN = "$defs/train/properties"
MODEL = "$defs/model/properties"
GRID = "properties/grid/properties"
#: Schema location -> the name table its enum (or pattern) must equal.
FROM_NAMES = {
    "properties/numerics/enum": names.NUMERICS_MODES,
    "$defs/source/properties/resize/enum": names.RESIZE_MODES,
    "$defs/name/pattern": names.NAME_PATTERN,
    f"{TRAIN}/optimizer/enum": names.OPTIMIZERS,
    f"{TRAIN}/schedule/enum": names.SCHEDULES,
    f"{GRID}/vary/properties/optimizer/items/enum": names.OPTIMIZERS,
    "$defs/features/properties/layers/items/pattern": names.LAYER_PATTERN,
    "$defs/features/properties/classifiers/items/enum": names.CLASSIFIERS,
    f"{MODEL}/head/properties/kind/enum": names.HEAD_KINDS,
    f"{MODEL}/head/properties/replace/enum": names.HEAD_REPLACE,
    "$defs/dataset/properties/split/properties/val_size/enum": names.VAL_SIZES,
    f"{GRID}/shortlist/properties/by/enum": names.SELECTION_SCORES,
    f"{MODEL}/adapt/items/enum": names.ADAPT_METHODS,
    f"{GRID}/adapt/items/enum": names.ADAPT_METHODS,
    f"{MODEL}/weights/oneOf/4/properties/layout/enum": names.WEIGHT_LAYOUTS,
}
#: Schema location of a constant -> the wildcard pattern it becomes part of a file name by.
WILDCARD_CONSTS = {
    f"{MODEL}/freeze/items/oneOf/1/const": names.FREEZE_PATTERN,
    f"{GRID}/freeze/items/oneOf/1/const": names.FREEZE_PATTERN,
    f"{GRID}/sizes/items/oneOf/1/const": names.SIZE_PATTERN,
}
#: Values only the schema knows (no table in the code repeats them), and why.
SCHEMA_ONLY = {
    f"{MODEL}/in_chans/enum": "grey or colour input: a number, not a name",
    f"{MODEL}/weights/oneOf/0/const": "'none': the code only asks whether weights is a mapping",
    "$defs/sha256/pattern": "the shape of a hex digest",
    f"{MODEL}/weights/oneOf/2/properties/hub/pattern": "hub tags are the hub's names",
    f"{MODEL}/weights/oneOf/3/properties/file/pattern": "a file suffix",
    f"{MODEL}/weights/oneOf/4/properties/package/properties/distribution/pattern": "PyPI's names",
    f"{MODEL}/weights/oneOf/4/properties/package/properties/file/pattern": "file suffixes",
    "$defs/dataset/properties/split/properties/test/oneOf/1/const": "'source': one reader",
}
#: Keys whose children are names chosen by the schema's author, not keywords.
NAMED_CHILDREN = {"properties", "$defs", "patternProperties"}


def constraints(node, path=()):
    """(location, value) of every enum, const and pattern in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("enum", "const", "pattern") and (not path or path[-1] not in NAMED_CHILDREN):
                yield "/".join(map(str, (*path, key))), value
            else:
                yield from constraints(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from constraints(item, (*path, i))


def matches_pattern(schema_pattern: str, pattern: str) -> bool:
    """The schema anchors a names pattern (wildcard patterns are unanchored)."""
    return schema_pattern in (f"^{pattern}$", f"^({pattern})$")


def test_every_schema_enum_and_pattern_is_a_shared_name_or_declared_schema_only():
    found = dict(constraints(CONFIG_SCHEMA))
    known = FROM_NAMES.keys() | WILDCARD_CONSTS.keys() | SCHEMA_ONLY.keys()
    unclassified = sorted(found.keys() - known)
    assert not unclassified, (
        f"config.schema.json: {unclassified}: check against spec/names.py (FROM_NAMES) "
        "or list in SCHEMA_ONLY"
    )
    gone = sorted(known - found.keys())
    assert not gone, f"listed here, no longer in config.schema.json: {gone}"
    for where, expected in FROM_NAMES.items():
        value = found[where]
        if where.endswith("/pattern"):
            assert matches_pattern(value, expected), (where, value, expected)
        else:
            assert value == list(expected), where
    for where, pattern in WILDCARD_CONSTS.items():
        assert re.fullmatch(pattern, found[where]), (where, found[where])


def test_the_record_schema_uses_the_grid_coordinates_of_the_rule_files():
    props = RECORD_SCHEMA["properties"]
    assert props["init"]["enum"] == list(names.INITS)
    assert matches_pattern(props["freeze"]["pattern"], names.FREEZE_PATTERN)
    assert matches_pattern(props["size"]["pattern"], names.SIZE_PATTERN)


def test_every_optimizer_and_schedule_name_is_implemented():
    from transfer_atlas.train.loop import make_optimizer, make_schedule

    params = [torch.nn.Parameter(torch.zeros(2))]
    hp = {"lr": 0.1, "weight_decay": 0.0, "momentum": 0.9, "step_size": 3, "gamma": 0.5}
    for name in names.OPTIMIZERS:
        opt = make_optimizer(params, {**hp, "optimizer": name})
        assert type(opt).__name__.lower() == name, name
    opt = make_optimizer(params, {**hp, "optimizer": "sgd"})
    built = {s: make_schedule(opt, {**hp, "schedule": s}, epochs=4) for s in names.SCHEDULES}
    assert built.pop("constant") is None
    assert all(built.values()), built
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop' .*adadelta"):
        make_optimizer(params, {**hp, "optimizer": "rmsprop"})
    with pytest.raises(ValueError, match="unknown schedule 'cosin' .*plateau"):
        make_schedule(opt, {**hp, "schedule": "cosin"}, epochs=4)


def test_every_local_architecture_and_head_kind_builds():
    from transfer_atlas.nn import models, zoo

    assert set(models.LOCAL_BUILDERS) == set(names.LOCAL_ARCHS)
    for arch in names.LOCAL_ARCHS:
        net = models.build({"arch": arch, "input_size": 32}, num_classes=3)
        assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 3), arch
    for kind in names.HEAD_KINDS:
        head = zoo.make_head({"kind": kind}, 8, 3)
        assert head(torch.zeros(1, 8)).shape == (1, 3), kind
