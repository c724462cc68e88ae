"""The vocabulary: every name a config, schema, rule file, job or report shares, defined once.

Plain data, importable at DAG time (no torch, no numpy). The JSON schemas' enums are
checked against these tables by ``tests/unit/spec/test_names.py``; the rule files and the
library import them instead of keeping copies.
"""

from __future__ import annotations

from transfer_atlas.core import numerics

#: Config key ``numerics``: CPU kernel choice of every job (core.numerics).
NUMERICS_MODES = numerics.MODES

# ------------------------------------------------------------------ grid coordinates
#: Wildcard shapes of the rule files (a model / dataset name, a freeze depth, a size).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
INITS = ("pretrained", "scratch")
#: Adaptation methods (config ``grid.adapt``; docs/adaptation.md): each is one more
#: setting beside the freeze depths, and takes the freeze slot of a run's file name.
ADAPT_METHODS = ("bitfit", "norm", "lora", "lp_ft")
FREEZE_PATTERN = r"[0-9]+|all|" + "|".join(ADAPT_METHODS)
SIZE_PATTERN = r"[0-9]+|all"
SEED_PATTERN = r"[0-9]+"
#: How many validation images a run uses (config ``split.val_size``; data.prepared).
VAL_SIZES = ("full", "matched")
#: Names a model may not take: they name other things in caches and the report.
RESERVED_MODEL_NAMES = frozenset({"pixels"})

# ------------------------------------------------------------------ architectures
#: Architectures built by this project (``transfer_atlas.nn.models``), not taken from a hub.
LOCAL_ARCHS = ("small_cnn", "lenet")
#: ``small_cnn``'s default stages (one freeze group per conv block and per dense layer).
SMALL_CNN_CHANNELS = (16, 32, 64)
SMALL_CNN_DENSE = ()
#: LeNet-5's stages, one freeze group each: conv channels, then dense widths.
LENET_CHANNELS = (6, 16)
LENET_DENSE = (120, 84)
#: A model's new classifier (``head: kind:``) and what of a torchvision model it replaces.
HEAD_KINDS = ("linear", "mlp")
HEAD_REPLACE = ("last", "classifier")
#: Checkpoint layouts a package's weights may be in (``weights.layout``); each is a named
#: converter onto the timm architecture (``transfer_atlas.nn.converters.LAYOUTS``).
WEIGHT_LAYOUTS = ("timm", "efficientnet_pytorch")

# ------------------------------------------------------------------ training
OPTIMIZERS = ("sgd", "adam", "adamw", "adadelta")
SCHEDULES = ("constant", "cosine", "step", "plateau")

# ------------------------------------------------------------------ dataset sources
#: Classes of the generated ``shapes`` dataset, in label order.
SHAPE_NAMES = ("circle", "square", "triangle", "cross")
#: Classes of the ``skimage_faces`` source, in label order (scikit-image's LFW subset:
#: its first 100 images are faces, the other 100 background crops of the same photos).
FACE_CLASSES = ("face", "non_face")
#: Texture-like photographs in scikit-image's wheel (``skimage/data/``) that the
#: ``skimage_textures`` source may cut into patches: name -> file. Each is one class.
TEXTURE_PHOTOS = {
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "ihc": "ihc.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
}
#: The photos (classes) a ``skimage_textures`` source uses when ``photos`` is not given.
DEFAULT_TEXTURES = ("brick", "grass", "gravel")
#: torchvision datasets read from their on-disk formats: name -> (class, folder under root).
TORCHVISION = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "kmnist": ("KMNIST", "KMNIST/raw"),
    "svhn": ("SVHN", "."),
    "stl10": ("STL10", "stl10_binary"),
}

# ------------------------------------------------------------------ features regime
#: Layers that need no model: the raw pixels.
MODEL_FREE_LAYERS = frozenset({"pixels"})
#: Named layers of the VGG family (study 002), input -> output.
VGG_LAYERS = ("flatten", "fc1", "fc2", "predictions", "pre_logits")
#: Every layer name a features job may be asked for (a regular expression).
LAYER_PATTERN = r"pre_logits|predictions|pixels|flatten|fc1|fc2|stage[0-9]+"
#: Classifier names the config may use.
CLASSIFIERS = (
    "logreg",
    "svm_linear",
    "svm_rbf",
    "random_forest",
    "xgboost",
    "gaussian_nb",
    "bayesian_ridge",
)
#: Parameters a grid search may name, per classifier (checked before any job runs).
TUNABLE = {
    "logreg": frozenset({"C", "max_iter", "tol"}),
    "svm_linear": frozenset({"C", "tol"}),
    "svm_rbf": frozenset({"C", "gamma", "kernel", "degree", "tol"}),
    "random_forest": frozenset({"n_estimators", "max_depth", "min_samples_leaf", "max_features"}),
    "xgboost": frozenset(
        {"learning_rate", "n_estimators", "max_depth", "subsample", "min_child_weight"}
    ),
    "gaussian_nb": frozenset({"var_smoothing"}),
    "bayesian_ridge": frozenset({"alpha_1", "alpha_2", "lambda_1", "lambda_2", "max_iter"}),
}

# ------------------------------------------------------------------ transferability
#: Every model-selection score the transferability jobs write, higher = better
#: (``features.transferability_job``); ``grid.shortlist.by`` names one of them.
SELECTION_SCORES = ("logme", "leep", "nce", "hscore", "sfda", "knn", "prior")
#: The baselines among them: a score is only worth showing if it beats these. ``knn``:
#: leave-one-out k-NN accuracy of the frozen features; ``prior``: the source model's test
#: accuracy on its own source task (no target data at all).
BASELINE_SCORES = ("knn", "prior")

# ------------------------------------------------------------------ report
#: The report's figures, in page order: workflow outputs results/figures/<name>.{vl.json,svg,png},
#: ``transfer_atlas.report.figures.FIGURES`` draws each, report/captions/<name>.txt captions it.
FIGURE_NAMES = (
    "accuracy_heatmap",
    "gain_heatmap",
    "ranking",
    "learning_curves",
    "confusion_matrices",
    "accuracy_density",
    "accuracy_vs_time",
    "pareto_latency",
    "accuracy_vs_trainable",
    "across_targets",
)

#: How a file source's images become ``image_size`` squared (``source.resize``):
#: ``stretch`` (the default), ``center_crop`` or ``pad``; see ``data.checks``.
RESIZE_MODES = ("stretch", "center_crop", "pad")
