"""Load, validate and expand a study config — without importing torch.

The workflow validates the config while building the DAG (``spec.validate``, which runs
the checks defined here among others), so everything here must be cheap: YAML,
jsonschema and plain Python only. Errors name the config key or the name at fault and
are raised before any job runs.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from transfer_atlas.core.hashing import canonical_hash
from transfer_atlas.spec import registry
from transfer_atlas.spec.names import CLASSIFIERS, MODEL_FREE_LAYERS, RESERVED_MODEL_NAMES, TUNABLE

#: Package data (``importlib.resources``); workflow/schemas/ links to the same files.
SCHEMA_DIR = resources.files("transfer_atlas.spec") / "schemas"

#: Training defaults; a study's ``train:`` and each model's ``train:`` override them.
TRAIN_DEFAULTS = {
    "optimizer": "adam",
    "lr": 0.003,
    "backbone_lr_scale": 1.0,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "epochs": 15,
    "min_steps": 0,
    "batch_size": 32,
    "schedule": "cosine",
    "step_size": 10,
    "gamma": 0.1,
    "label_smoothing": 0.0,
    "early_stopping": 0,
    "augment": {},
}
#: Options of the adaptation methods (config ``adapt_args``; docs/adaptation.md). LoRA's
#: targets are regular expressions matched in full against module names: ".*" is every
#: Linear and ungrouped Conv2d outside the head, which suits conv nets and ViTs alike.
#: LP-FT's second phase runs full fine-tuning's schedule: ``epochs``, ``lr`` and
#: ``min_steps`` None = the model's train settings, as freeze 0 uses them (Kumar et al.
#: 2022 compare LP-FT and fine-tuning at matched fine-tuning budgets).
ADAPT_DEFAULTS = {
    "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": [".*"]},
    "lp_ft": {"probe_epochs": 5, "epochs": None, "lr": None, "min_steps": None},
}
# val_size "full": every run validates on the whole val split (the studies' texts fix
# their splits, e.g. study 002's 60/20/20, and early stopping there watches all of it);
# "matched" caps a run at n training + n validation labels (config/README.md).
SPLIT_DEFAULTS = {"val": 0.2, "test": 0.2, "seed": 0, "val_size": "full"}


class ConfigError(ValueError):
    """A study config is invalid; the message names the key or name at fault."""


def _key_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _best_error(err):
    """oneOf errors are opaque; the most specific sub-error says what is wrong. Where one
    alternative alone fits the value's shape (e.g. the weights source whose key is
    given), its own error is the one to report."""
    import jsonschema

    if err.validator in ("oneOf", "anyOf") and err.context:
        branches = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        shape = ("required", "type", "const", "enum", "additionalProperties")
        fitting = [
            subs
            for subs in branches.values()
            if not any(sub.validator in shape and not sub.relative_path for sub in subs)
        ]
        if len(fitting) == 1:
            return _best_error(jsonschema.exceptions.best_match(fitting[0]))
    return jsonschema.exceptions.best_match([err]) if err.context else err


def validate_schema(config: dict, schema_path: Path | None = None) -> None:
    """Check ``config`` against the JSON schema; raise one ConfigError listing every problem."""
    import jsonschema

    schema = json.loads((schema_path or SCHEMA_DIR / "config.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path))):
        best = _best_error(err)
        problems.append(f"config key '{_key_path(best.absolute_path)}': {best.message}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def hub_key(spec: dict) -> str:
    """File stem of a model's hub weights under data/weights/: arch, tag, and a hash of
    arch_args when they change the tensors (e.g. a ViT's image size)."""
    arch = spec["arch"].replace("/", "--").replace(":", "_")
    stem = f"{arch}--{spec['weights']['hub']}"
    args = spec.get("arch_args") or {}
    return f"{stem}--{canonical_hash(args)[:8]}" if args else stem


def package_key(spec: dict) -> str:
    """File stem of a model's converted package weights under results/weights/package/:
    arch, distribution, and a hash of what the conversion depends on."""
    arch = spec["arch"].replace("/", "--").replace(":", "_")
    w = spec["weights"]
    what = {k: w.get(k) for k in ("package", "layout")} | {"args": spec.get("arch_args") or {}}
    return f"{arch}--{w['package']['distribution']}--{canonical_hash(what)[:8]}"


def installed_version(distribution: str) -> str | None:
    """The installed version of a Python distribution (None if it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Study:
    """A validated config with defaults filled in, plus the expanded job grid."""

    raw: dict
    name: str
    datasets: dict  # name -> dataset spec (split defaults filled)
    models: dict  # name -> model spec (train resolved)
    grid: dict

    @property
    def numerics(self) -> str:
        """``portable`` (default) or ``native``: the CPU kernel choice of every job."""
        return self.raw.get("numerics", "portable")

    def model_train(self, model: str) -> dict:
        return self.models[model]["train"]

    def pretrain_spec(self, model: str) -> dict | None:
        weights = self.models[model].get("weights", "none")
        return weights if isinstance(weights, dict) and "pretrain" in weights else None

    def hub_spec(self, model: str) -> dict | None:
        weights = self.models[model].get("weights", "none")
        return weights if isinstance(weights, dict) and "hub" in weights else None

    def package_spec(self, model: str) -> dict | None:
        weights = self.models[model].get("weights", "none")
        return weights if isinstance(weights, dict) and "package" in weights else None

    def weights_path(self, model: str) -> str | None:
        """Where a model's source weights come from: pretrained by the workflow, fetched
        once from a hub into data/weights/, converted once from an installed package,
        or a local safetensors file; None = scratch. Every regime loads this file."""
        weights = self.models[model].get("weights", "none")
        if not isinstance(weights, dict):
            return None
        if "pretrain" in weights:  # variants and identical sources share one pretraining
            return f"results/weights/{self.models[model].get('weights_from', model)}.safetensors"
        if "hub" in weights:
            return f"data/weights/{hub_key(self.models[model])}.safetensors"
        if "package" in weights:
            return f"results/weights/package/{package_key(self.models[model])}.safetensors"
        return weights["file"]

    def pinned_sha256(self, model: str) -> str | None:
        """The sha256 the config pins for a model's weights file (any source), lower case."""
        weights = self.models[model].get("weights", "none")
        sha = weights.get("sha256") if isinstance(weights, dict) else None
        return sha.lower() if sha else None

    def adapt_args(self, method: str) -> dict:
        """The resolved options of adaptation ``method`` ({} for methods without any)."""
        return _merge(
            ADAPT_DEFAULTS.get(method, {}), (self.raw.get("adapt_args") or {}).get(method)
        )

    def settings(self, model: str) -> list[str]:
        """A pretrained model's settings: its freeze depths, then its adaptation methods."""
        spec, g = self.models[model], self.grid
        return [
            str(f) for f in spec.get("freeze", g["freeze"]) + spec.get("adapt", g.get("adapt", []))
        ]

    def finetune_cells(self):
        """Yield every fine-tune job as a dict of wildcards (pretrained + scratch)."""
        g = self.grid
        for dataset in g["targets"]:
            for model in g["models"]:
                pretrained = self.weights_path(model) is not None
                scratch = self.models[model].get("scratch", g.get("scratch", True))
                for size in g["sizes"]:
                    for seed in g["seeds"]:
                        if pretrained:
                            for freeze in self.settings(model):
                                yield dict(
                                    dataset=dataset,
                                    model=model,
                                    init="pretrained",
                                    freeze=str(freeze),
                                    size=str(size),
                                    seed=str(seed),
                                )
                        if scratch or not pretrained:
                            yield dict(
                                dataset=dataset,
                                model=model,
                                init="scratch",
                                freeze="0",
                                size=str(size),
                                seed=str(seed),
                            )

    # -------------------------------------------------- features + transferability

    def has_weights(self, model: str) -> bool:
        """Whether ``model`` has source weights (any source; :meth:`weights_path`)."""
        return self.models[model].get("weights", "none") != "none"

    def features_options(self) -> dict:
        """Classifier options shared by every features job (standardize, pca, grid search)."""
        f = self.grid.get("features") or {}
        return {k: f[k] for k in ("standardize", "pca", "grid_search") if k in f}

    def _feature_models(self, layer: str):
        return [m for m in self.grid["models"] if layer in MODEL_FREE_LAYERS or self.has_weights(m)]

    def feature_cells(self):
        """Every classifier job: dataset x model x layer x classifier x size x seed."""
        f = self.grid.get("features")
        if not f:
            return
        for dataset in self.grid["targets"]:
            for layer in f["layers"]:
                for model in self._feature_models(layer):
                    for clf in f["classifiers"]:
                        for size in self.grid["sizes"]:
                            for seed in self.grid["seeds"]:
                                yield dict(
                                    dataset=dataset,
                                    model=model,
                                    layer=layer,
                                    classifier=clf,
                                    size=str(size),
                                    seed=str(seed),
                                )

    def transferability_cells(self):
        """Every model (with source weights) x target to score without fine-tuning."""
        if not self.grid.get("transferability"):
            return
        for dataset in self.grid["targets"]:
            for model in self.grid["models"]:
                if self.has_weights(model):
                    yield dict(dataset=dataset, model=model)

    def prefix_caches(self) -> set[tuple[str, str]]:
        """(model, dataset) pairs whose freeze-all fine-tunes read their frozen backbone's
        output from the ``pre_logits`` feature cache (``train.prefix``): where the study
        extracts it anyway and that output can be cached (no augmentation, no unfreeze
        phase; not VGG, whose ``pre_logits`` is fc2 rather than the head's input)."""
        pairs = set()
        for cell in self.extraction_cells():
            model, train = cell["model"], self.model_train(cell["model"])
            if cell["layer"] != "pre_logits" or train.get("augment") or train.get("unfreeze"):
                continue
            if not self.models[model]["arch"].startswith("tv/vgg"):
                pairs.add((model, cell["dataset"]))
        return pairs

    def extraction_cells(self):
        """Each feature cache, once: dataset x model x layer (transferability needs two)."""
        seen = {(c["dataset"], c["model"], c["layer"]) for c in self.feature_cells()}
        for c in self.transferability_cells():
            seen |= {(c["dataset"], c["model"], layer) for layer in ("pre_logits", "predictions")}
        return [dict(dataset=d, model=m, layer=lay) for d, m, lay in sorted(seen)]


def check_grids(grids: dict) -> list[str]:
    """Problems with a ``grid_search.grids`` mapping, as config-key messages."""
    problems = []
    for name, grid in (grids or {}).items():
        key = f"grid.features.grid_search.grids.{name}"
        if name not in TUNABLE:
            problems.append(f"config key '{key}': unknown classifier (known: {list(CLASSIFIERS)})")
            continue
        for param in grid:
            if param == "kernel" and name == "svm_rbf":
                continue
            if param not in TUNABLE[name]:
                problems.append(
                    f"config key '{key}.{param}': not a tunable parameter of {name} "
                    f"(use one of {sorted(TUNABLE[name])})"
                )
    return problems


def check_features(study: Study) -> None:
    """Grid-search grids must name tunable parameters; features need models with weights."""
    f = study.grid.get("features")
    problems = check_grids(((f or {}).get("grid_search") or {}).get("grids"))
    wants = (f and any(lay != "pixels" for lay in f["layers"])) or study.grid.get("transferability")
    if wants and not any(study.has_weights(m) for m in study.grid["models"]):
        problems.append(
            "config key 'grid.models': features and transferability need a model with "
            "source weights (models.<name>.weights)"
        )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def check_names(study: Study) -> None:
    """Cross-reference names: grid entries must be defined, archs and sources known."""
    problems = []
    for i, name in enumerate(study.grid["targets"]):
        if name not in study.datasets:
            problems.append(
                f"config key 'grid.targets[{i}]': unknown dataset '{name}' "
                f"(defined: {', '.join(sorted(study.datasets))})"
            )
    for i, name in enumerate(study.grid["models"]):
        if name not in study.models:
            problems.append(
                f"config key 'grid.models[{i}]': unknown model '{name}' "
                f"(defined: {', '.join(sorted(study.models))})"
            )
    for name, spec in study.models.items():
        if name in RESERVED_MODEL_NAMES:
            problems.append(
                f"config key 'models.{name}': '{name}' is reserved (it names the raw-pixel "
                "representation in feature caches and the report's maps): rename the model"
            )
        try:
            registry.check_arch(spec["arch"])
        except ValueError as exc:
            problems.append(f"config key 'models.{name}.arch': {exc}")
        pre = study.pretrain_spec(name)
        if pre and pre["pretrain"] not in study.datasets:
            problems.append(
                f"config key 'models.{name}.weights.pretrain': unknown dataset '{pre['pretrain']}'"
            )
        problems += check_package(name, study.package_spec(name), spec["arch"])
    for name, spec in study.datasets.items():
        try:
            registry.check_source(spec["source"])
        except ValueError as exc:
            problems.append(f"config key 'datasets.{name}.source': {exc}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def check_package(name: str, weights: dict | None, arch: str) -> list[str]:
    """Package weights: the distribution is installed; a foreign layout fits the arch."""
    if not weights:
        return []
    dist = weights["package"]["distribution"]
    problems = []
    if installed_version(dist) is None:
        problems.append(
            f"config key 'models.{name}.weights.package.distribution': '{dist}' is not "
            "installed (pin it in requirements.lock and run `make env`)"
        )
    if weights.get("layout") == "efficientnet_pytorch" and not arch.startswith("timm/efficientnet"):
        problems.append(
            f"config key 'models.{name}.weights.layout': efficientnet_pytorch converts onto "
            f"timm's efficientnet / efficientnet_lite architectures, not '{arch}'"
        )
    return problems


def share_pretraining(models: dict) -> None:
    """Models whose source pretraining is identical (same architecture, source and
    settings; e.g. study 003's with/without fine-tuning pairs) share one pretrain job."""
    owners = {}
    for name, spec in models.items():
        if not (isinstance(spec["weights"], dict) and "pretrain" in spec["weights"]):
            continue
        grid_keys = ("train", "freeze", "adapt", "scratch")  # which cells run, not how it pretrains
        key = canonical_hash({k: v for k, v in spec.items() if k not in grid_keys})
        owner = owners.setdefault(key, name)
        if owner != name:
            spec["weights_from"] = owner


def variant_name(model: str, key: str, value) -> str:
    return f"{model}.{value}" if key == "optimizer" else f"{model}.{key}{value}"


def expand_variants(models: dict, grid_models: list, vary: dict) -> tuple[dict, list]:
    """Training settings as extra grid axes (study 001: optimizer x learning rate).

    Each grid model becomes one model per combination, named ``<model>.<value>...``
    (e.g. ``mnv2.adam.lr0.01``); variants of a model share its pretrained source.
    """
    import itertools

    keys = list(vary)
    out, names, made = dict(models), [], {}
    for model in grid_models:
        for combo in itertools.product(*(vary[k] for k in keys)):
            name = model
            for key, value in zip(keys, combo, strict=True):
                name = variant_name(name, key, value)
            if name in models or name in made:
                first = f"a variant of '{made[name]}'" if name in made else "a model of the config"
                raise ConfigError(
                    f"config key 'grid.vary': variant '{name}' of model '{model}' has the name "
                    f"of {first} (key 'models.{name}' or another variant); rename that model"
                )
            made[name] = model
            spec = copy.deepcopy(models[model])
            spec["train"] = _merge(spec["train"], dict(zip(keys, combo, strict=True)))
            spec["weights_from"] = models[model].get("weights_from", model)
            out[name] = spec
            names.append(name)
    return out, names


def resolve(config: dict) -> Study:
    """Check a raw config dict against the schema and return a :class:`Study` with defaults
    filled in. The cross-checks are :func:`transfer_atlas.spec.validate.validate`'s: call
    that on a config a user wrote.

    Top-level keys starting with ``x-`` are free-form blocks for YAML anchors (shared
    model definitions) and are dropped before validation.
    """
    config = {k: v for k, v in config.items() if not str(k).startswith("x-")}
    validate_schema(config)
    study_train = _merge(TRAIN_DEFAULTS, config.get("train"))
    models = {}
    for name, spec in config["models"].items():
        spec = copy.deepcopy(spec)
        spec["train"] = _merge(study_train, spec.get("train"))
        spec.setdefault("arch_args", {})
        spec.setdefault("weights", "none")
        # ImageNet-style backbones (torchvision, hub weights) take colour images.
        hub = isinstance(spec["weights"], dict) and bool({"hub", "package"} & set(spec["weights"]))
        spec.setdefault("in_chans", 3 if spec["arch"].startswith("tv/") or hub else 1)
        if isinstance(spec["weights"], dict) and "pretrain" in spec["weights"]:
            # Pretraining has its own settings (study defaults + weights.train), so tuning
            # the fine-tune of a model never retrains its source.
            spec["weights"]["train"] = _merge(study_train, spec["weights"].get("train"))
        models[name] = spec
    datasets = {}
    for name, spec in config["datasets"].items():
        spec = copy.deepcopy(spec)
        spec["split"] = _merge(SPLIT_DEFAULTS, spec.get("split"))
        test = spec["split"]["test"]
        if spec["split"]["val"] + (0 if test == "source" else test) >= 1:
            raise ConfigError(f"config key 'datasets.{name}.split': val + test must be < 1")
        datasets[name] = spec
    share_pretraining(models)
    grid = copy.deepcopy(config["grid"])
    if grid.get("vary"):
        models, grid["models"] = expand_variants(models, grid["models"], grid["vary"])
    study = Study(
        raw=config,
        name=config.get("study", "study"),
        datasets=datasets,
        models=models,
        grid=grid,
    )
    return study


def check_adapt(study: Study) -> None:
    """LoRA target patterns must be regular expressions (whether they match a module of
    each model is checked by the job, before it trains: nn.adapt)."""
    import re

    problems = []
    for i, pattern in enumerate(study.adapt_args("lora")["target_modules"]):
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(
                f"config key 'adapt_args.lora.target_modules[{i}]': {pattern!r} is not a "
                f"regular expression ({exc})"
            )
    problems += _unfreeze_with_adapt(study)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _unfreeze_with_adapt(study: Study) -> list[str]:
    """``train.unfreeze`` is a second phase after a frozen one; an adaptation method
    defines its own trainable set (LP-FT its own second phase), so the two together
    would run something other than what the record names: refused."""
    problems = []
    study_unfreeze = (study.raw.get("train") or {}).get("unfreeze")
    for m in study.grid["models"]:
        spec = study.models[m]
        methods = spec.get("adapt", study.grid.get("adapt", []))
        if not (methods and spec["train"].get("unfreeze") and study.weights_path(m)):
            continue
        own = ((study.raw["models"].get(m) or {}).get("train") or {}).get("unfreeze")
        key = f"models.{m}.train.unfreeze" if own or not study_unfreeze else "train.unfreeze"
        where = f"models.{m}.adapt" if "adapt" in spec else "grid.adapt"
        problems.append(
            f"config key '{key}' with '{where}' ({', '.join(methods)}) for model '{m}': an "
            "adaptation method sets which parameters train (LP-FT has its own fine-tuning "
            "phase), so an unfreeze phase would make the run other than its label; drop "
            f"'{key}' or the methods (or give the model its own 'adapt: []')"
        )
    return problems
