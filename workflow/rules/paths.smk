# What files the study makes: wildcard shapes, path patterns, and the lists of records,
# tables and figures the final targets ask for. Names and patterns come from
# transfer_atlas.spec.names, which the config schema is checked against.
from transfer_atlas.spec.names import (
    CLASSIFIERS,
    FIGURE_NAMES,
    FREEZE_PATTERN,
    INITS,
    LAYER_PATTERN,
    NAME_PATTERN,
    SEED_PATTERN,
    SIZE_PATTERN,
)


wildcard_constraints:
    dataset=NAME_PATTERN,
    model=NAME_PATTERN,
    init="|".join(INITS),
    freeze=FREEZE_PATTERN,
    size=SIZE_PATTERN,
    seed=SEED_PATTERN,
    layer=LAYER_PATTERN,
    classifier="|".join(CLASSIFIERS),


# Fine-tuning: one record per grid cell.
RUN_PATTERN = "results/runs/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.json"
RECORDS = [RUN_PATTERN.format(**cell) for cell in STUDY.finetune_cells()]

# Features regime: one cache per model x dataset x layer, one record per classifier job.
FEATURE_PATTERN = "results/features/{dataset}/{model}/{layer}.npz"
FEATURE_RUN_PATTERN = (
    "results/runs/{dataset}/{model}/features_{layer}_{classifier}_n{size}_s{seed}.json"
)
FEATURE_RECORDS = [FEATURE_RUN_PATTERN.format(**c) for c in STUDY.feature_cells()]

# Transferability scores, and their tables and figure when the study asks for them.
TRANSFER_SCORES = [
    "results/transferability/{dataset}/{model}.json".format(**c)
    for c in STUDY.transferability_cells()
]
TRANSFER_TABLES = (
    ["results/transferability.csv", "results/transferability_tau.csv"]
    if TRANSFER_SCORES
    else []
)
TRANSFER_FIGURES = (
    ["results/figures/transferability_scatter.vl.json"] if TRANSFER_SCORES else []
)

# Shortlist mode (grid.shortlist: {k, by, audit}): the checkpoint's table, which the
# aggregate (unless an audit runs the full grid) and the report read.
SHORTLIST = STUDY.grid.get("shortlist")
SHORTLIST_FILES = ["results/shortlist.csv"] if SHORTLIST else []

# The report's figures; captions in report/captions/.
FIGURE_FILES = expand(
    "results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=["vl.json", "svg", "png"]
)

# Pictures of the models: one set per distinct pretrained weights file (variants share
# their source's); those weights have a first layer worth drawing.
_PICTURED = {}
for _m in STUDY.grid["models"]:
    if STUDY.weights_path(_m):
        _PICTURED.setdefault(STUDY.weights_path(_m), _m)
PICTURED_MODELS = list(_PICTURED.values())

# 2-D maps (PCA, t-SNE) of every target's raw pixels and of each pretrained model's
# cached pre_logits features: the cache the features regime or the transferability
# scores already write. A study without that cache gets the pixel maps only (mapping
# a model would mean an extra pass over the dataset).
EMBEDDINGS = [
    f"results/explore/embeddings/{dataset}/pixels.json"
    for dataset in STUDY.grid["targets"]
] + [
    f"results/explore/embeddings/{c['dataset']}/{c['model']}.json"
    for c in STUDY.extraction_cells()
    if c["layer"] == "pre_logits"
]


def prepared(dataset):
    """A prepared dataset's files (the prepare job writes all; meta.json last)."""
    return multiext(
        f"results/prepared/{dataset}/",
        "images.npy",
        "labels.npy",
        "train_idx.npy",
        "val_idx.npy",
        "test_idx.npy",
        "meta.json",
    )
