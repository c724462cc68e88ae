"""Adaptation methods (nn.adapt): after real training steps (train.loop.fit, the job's own
loop), exactly the parameters each method names have changed; LoRA is deterministic
on CPU and refuses target patterns that match nothing, naming them."""

import io

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from transfer_atlas.nn import adapt, models
from transfer_atlas.nn.freezing import count_params
from transfer_atlas.spec.study import ADAPT_DEFAULTS, TRAIN_DEFAULTS
from transfer_atlas.train.finetune import unfreeze_phase
from transfer_atlas.train.loop import fit

SPECS = {
    "small_cnn": {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 12},
    "test_vit": {"arch": "timm/test_vit", "arch_args": {"img_size": 16}, "input_size": 16},
    "test_resnet": {"arch": "timm/test_resnet", "input_size": 16},
}
HP = {**TRAIN_DEFAULTS, "epochs": 1, "batch_size": 8, "lr": 0.01}


def _data(spec, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = spec["input_size"]
    x = torch.randn(n, 1, s, s, generator=g)
    return x, torch.randint(0, 3, (n,), generator=g)


def _built(name, method, args=None, seed=0):
    torch.manual_seed(seed)
    model = models.build(SPECS[name], num_classes=3)
    for m in model.modules():  # as trained weights are: timm's ResNets start each block's
        if isinstance(m, torch.nn.BatchNorm2d):  # last BN at 0, which passes no gradient
            torch.nn.init.ones_(m.weight)
    torch.manual_seed(seed)
    args = ADAPT_DEFAULTS.get(method, {}) if args is None else args
    depth, n_groups, hp = adapt.apply(model, method, args, HP)
    return model, depth, n_groups, hp


def _train(model, spec, hp):
    x, y = _data(spec)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = fit(model, x, y, x[:8], y[:8], hp, seed=0, log=io.StringIO())
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    return changed, set(before), result


def _is_head(model, name):
    return name in models.classifier_names(model)


EXPECTED = {  # which parameters must change (everything else must not)
    "bitfit": lambda m, n, mod: n.endswith("bias"),
    "norm": lambda m, n, mod: adapt._is_norm(mod),
    "lora": lambda m, n, mod: ".lora_" in n,
}


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("method", list(EXPECTED))
def test_a_step_changes_exactly_the_parameters_the_method_trains(name, method):
    model, depth, n_groups, hp = _built(name, method)
    owner = {f"{mn}.{pn}" if mn else pn: m for mn, m in model.named_modules()
             for pn, _ in m.named_parameters(recurse=False)}  # fmt: skip
    should = {n for n in owner if _is_head(model, n) or EXPECTED[method](model, n, owner[n])}
    assert should - {n for n in owner if _is_head(model, n)}, "the method trains nothing"
    assert {n for n, p in model.named_parameters() if p.requires_grad} == should
    changed, every, _ = _train(model, SPECS[name], hp)
    assert changed == should, sorted(changed ^ should)[:8]
    total, trainable = count_params(model)
    assert trainable < total and n_groups > 0 and depth < n_groups


@pytest.mark.parametrize("name", ["small_cnn", "test_vit"])
def test_lp_ft_probes_the_head_then_trains_everything(name):
    model, depth, n_groups, hp = _built(
        name, "lp_ft", {"probe_epochs": 1, "epochs": 1, "lr": 0.001}
    )
    assert depth == n_groups and hp["epochs"] == 1
    assert hp["unfreeze"] == {"epochs": 1, "lr": 0.001, "min_steps": HP["min_steps"]}
    changed, every, first = _train(model, SPECS[name], hp)
    assert changed == models.classifier_names(model)  # the linear probe
    x, y = _data(SPECS[name])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    unfreeze_phase(model, first, (x, y, x[:8], y[:8]), hp, seed=0)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == every  # the second phase trains every parameter


def test_lp_ft_fine_tunes_with_the_schedule_of_freeze_0():
    # Issue 25, item 4: by default the second phase runs freeze 0's steps and lr (it ran
    # lr / 10 and no min_steps: 12 steps at 3e-4 against freeze 0's 60 at 3e-3).
    hp0 = {**HP, "lr": 0.003, "min_steps": 60, "epochs": 3}
    model = models.build(SPECS["small_cnn"], num_classes=3)
    _, _, hp = adapt.apply(model, "lp_ft", ADAPT_DEFAULTS["lp_ft"], hp0)
    assert hp["unfreeze"] == {"epochs": 3, "lr": 0.003, "min_steps": 60}
    x, y = _data(SPECS["small_cnn"])
    first = fit(model, x, y, x[:8], y[:8], hp, seed=0, log=io.StringIO())
    steps = []
    hook = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: steps.append(opt.param_groups[0]["initial_lr"])
    )
    try:
        unfreeze_phase(model, first, (x, y, x[:8], y[:8]), hp, seed=0)
        phase2 = list(steps)
        steps.clear()
        full = models.build(SPECS["small_cnn"], num_classes=3)
        fit(full, x, y, x[:8], y[:8], hp0, seed=0, log=io.StringIO())
    finally:
        hook.remove()
    assert len(phase2) == len(steps) == 60 and set(phase2) == set(steps) == {0.003}


@pytest.mark.parametrize("name", list(SPECS))
def test_merged_lora_costs_what_the_base_model_costs(name):
    # Issue 25, item 5: FLOPs, size and outputs of the merged model (adapters folded in).
    from transfer_atlas.nn import costs

    base, *_ = _built(name, "lora")
    x, _ = _data(SPECS[name], n=2)
    torch.manual_seed(0)
    plain = models.build(SPECS[name], num_classes=3)
    for n, p in base.named_parameters():  # a trained B, so that merging changes weights
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    base.eval()
    before = base(x)
    assert costs.flops(base, x) > costs.flops(plain, x)  # unmerged: the adapter branch
    adapt.merge_lora(base)
    assert costs.flops(base, x) == costs.flops(plain, x)
    assert costs.size_on_disk(base) == costs.size_on_disk(plain)
    assert count_params(base)[0] == count_params(plain)[0]
    torch.testing.assert_close(base(x), before, rtol=1e-4, atol=1e-4)


def test_lora_rank_is_capped_by_the_layer_shape():
    # small_cnn's first conv (1 -> 8 channels, 3x3): 72 weights; rank 8 would add 136.
    model, *_ = _built("small_cnn", "lora")
    first = model.get_submodule("stages.0.0")
    assert first.r["default"] == 4 and first.scaling["default"] == 16 / 8
    adapter = sum(p.numel() for n, p in first.named_parameters() if "lora_" in n)
    assert adapter == 68 < first.get_base_layer().weight.numel() == 72
    for m in model.modules():  # every adapter is smaller than its layer
        if hasattr(m, "lora_A") and "default" in m.lora_A:
            size = sum(p.numel() for n, p in m.named_parameters() if "lora_" in n)
            assert size < m.get_base_layer().weight.numel()
    assert adapt.capped_rank(torch.nn.Linear(1, 1), 8) == 0  # such a layer is skipped


def test_lora_and_bitfit_train_fewer_parameters_than_full_fine_tuning():
    full = count_params(models.build(SPECS["test_vit"], num_classes=3))
    assert full[0] == full[1]
    for method in ("bitfit", "lora", "norm"):
        model = _built("test_vit", method)[0]
        total, trainable = count_params(model)
        assert trainable < full[1] / 5, method
        assert adapt.task_bytes(model) < 4 * full[1], method  # fp32: 4 bytes a parameter


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_lora_is_deterministic_on_cpu():
    runs = []
    for _ in range(2):
        model, _, _, hp = _built("test_resnet", "lora", seed=3)
        _train(model, SPECS["test_resnet"], hp)
        runs.append({n: p.detach().clone() for n, p in model.named_parameters()})
    assert all(torch.equal(runs[0][n], runs[1][n]) for n in runs[0])


def test_lora_targets_patterns_and_skips_the_head_and_grouped_convs():
    model, *_ = _built("test_vit", "lora", {**ADAPT_DEFAULTS["lora"], "target_modules": ["qkv"]})
    adapted = {n.rsplit(".lora_", 1)[0] for n, _ in model.named_parameters() if ".lora_" in n}
    assert adapted and all(n.endswith("attn.qkv") for n in adapted)
    eff = models.build({"arch": "timm/test_efficientnet", "input_size": 16}, num_classes=3)
    head = models.classifier_names(eff)
    names = adapt.lora_candidates(eff, head)
    mods = dict(eff.named_modules())
    assert names and all(getattr(mods[n], "groups", 1) == 1 for n in names)
    assert not any(h.startswith(f"{n}.") for n in names for h in head)


def test_a_lora_pattern_matching_nothing_is_named_before_training():
    args = {**ADAPT_DEFAULTS["lora"], "target_modules": ["qkv", "no_such_layer"]}
    with pytest.raises(ValueError, match=r"\['no_such_layer'\] match no Linear"):
        _built("test_vit", "lora", args)
    with pytest.raises(ValueError, match="unknown adaptation method 'prompt'"):
        _built("small_cnn", "prompt", {})


def test_leading_groups_without_trainable_parameters_count_as_frozen():
    args = {**ADAPT_DEFAULTS["lora"], "target_modules": [r"stages\.1\..*"]}
    model, depth, n_groups, _ = _built("small_cnn", "lora", args)
    assert (depth, n_groups) == (1, 2)  # stage 0 is a fixed function: it may be precomputed
    assert _built("small_cnn", "bitfit")[1] == 0
