# Names, paths and input/params functions of the features regime (no rules here, so
# that features.smk holds only rules).
from transfer_atlas.spec.names import CLASSIFIERS, LAYER_PATTERN

FEATURE_PATTERN = "results/features/{dataset}/{model}/{layer}.npz"
FEATURE_RUN_PATTERN = (
    "results/runs/{dataset}/{model}/features_{layer}_{classifier}_n{size}_s{seed}.json"
)
FEATURE_RECORDS = [FEATURE_RUN_PATTERN.format(**c) for c in STUDY.feature_cells()]
FEATURE_OPTIONS = json.dumps(STUDY.features_options(), sort_keys=True)
LAYER = LAYER_PATTERN


def extract_input(w):
    inputs = {"data": prepared(w.dataset)}
    if w.layer != "pixels":
        inputs["weights"] = f"results/weights/{w.model}.safetensors"
    return inputs


def extract_json(w):
    spec = json.loads(ARCH_JSON[w.model])
    return json.dumps(
        {"dataset": w.dataset, "model": w.model, "layer": w.layer, "model_spec": spec},
        sort_keys=True,
    )


def classify_json(w):
    return json.dumps(
        {
            "study": STUDY.name,
            "dataset": w.dataset,
            "model": w.model,
            "layer": w.layer,
            "classifier": w.classifier,
            "size": w.size,
            "seed": int(w.seed),
            "options": json.loads(FEATURE_OPTIONS),
        },
        sort_keys=True,
    )
