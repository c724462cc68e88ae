# Which pictures the study gets, and the input function of the maps (no rules here,
# so that explore.smk holds only rules).

# Models whose weights the workflow pretrains have a first layer worth drawing.
# One picture set per distinct pretrained weights file (variants share their source's).
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


def embed_input(w):
    inputs = {"data": prepared(w.dataset)}
    if w.source != "pixels":
        inputs["features"] = FEATURE_PATTERN.format(
            dataset=w.dataset, model=w.source, layer="pre_logits"
        )
    return inputs
