"""The baselines of the LOMP tables: Smart-Ratio and random pruning (per-layer counts, nested
random masks) and Rare Gems (a mask of the frozen initial weights)."""

import math
import random
from fractions import Fraction

import pytest
import torch
from torch import nn

from prunelimit.data import DatasetSplits, Split
from prunelimit.methods.rare_gems import RareGemsSettings, rare_gems_masks, survivor_targets
from prunelimit.methods.smart_ratio import (
    random_counts,
    random_path,
    smart_ratio_counts,
    smart_ratio_path,
)
from prunelimit.models.registry import build_model
from prunelimit.pruning import count_prunable, global_magnitude_masks, masked, prunable_weights
from prunelimit.runtime import generator as make_generator
from prunelimit.training.loop import evaluate

SIZES = [100, 200, 400, 100]


def test_smart_ratio_counts_hand_worked_without_clipping():
    """L = 4 layers: keep scores (L-l+1)^2 + (L-l+1) = 4^2+4 = 20, 3^2+3 = 12, 2^2+2 = 6 for
    l = 1, 2, 3; the last keeps round(0.3 * 100) = 30.
    keep = 200: 170 for layers 1-3 = k (20*100 + 12*200 + 6*400) = 6800 k, so k = 1/40: ratios
    20/40 = 0.5, 12/40 = 0.3, 6/40 = 0.15 of 100, 200, 400 -> 50, 60, 60.
    VGG (scores / l^2 = 20, 3, 2/3), keep = 116: 86 = k (2000 + 600 + 800/3) = 8600 k / 3, so
    k = 3/100: ratios 0.6, 0.09, 0.02 -> 60, 18, 8."""
    assert smart_ratio_counts(SIZES, 200) == [50, 60, 60, 30]
    assert smart_ratio_counts(SIZES, 116, vgg=True) == [60, 18, 8, 30]
    assert smart_ratio_counts(SIZES, 220, last_keep=0.5) == [50, 60, 60, 50]  # 170 left


def test_smart_ratio_counts_hand_worked_with_clipping():
    """As above (scores 20, 12, 6 of sizes 100, 200, 400; the last keeps 30).
    keep = 438: 408 = 6800 k, k = 0.06: ratios 1.2, 0.72, 0.36 -> 120, 144, 144; layer 1 clips
    to 100 and its surplus 20 passes on to layer 2 (the next, as the public code): 164, 144.
    (A common rescale of layers 2, 3 would give 154, 154.)
    keep = 540: 510 = 6800 k, k = 0.075: ratios 1.5, 0.9, 0.45 -> 150, 180, 180; layer 1 clips
    to 100 (surplus 50), layer 2 to 200 (180 + 50 = 230: surplus 30), layer 3 gets 180 + 30."""
    assert smart_ratio_counts(SIZES, 438) == [100, 164, 144, 30]
    assert smart_ratio_counts(SIZES, 540) == [100, 200, 210, 30]
    assert sum(smart_ratio_counts(SIZES, 540)) == 540


def _public_shares(sizes: list[int], keep: int, vgg: bool) -> list[Fraction]:
    """Real-valued shares by the loop of the public SmartRatio.py (without its int() cuts):
    scale the scores to the budget, clip at 1, pass the surplus on in layer order."""
    L, fixed = len(sizes), round(0.3 * sizes[-1])
    scores = [Fraction((L - l + 1) ** 2 + (L - l + 1), l * l if vgg else 1) for l in range(1, L)]
    weight = sum(r * n for r, n in zip(scores, sizes, strict=False))
    ratios = [r * (keep - fixed) / weight if weight else Fraction(0) for r in scores]
    extra = Fraction(0)
    for i, n in enumerate(sizes[:-1]):
        if n == 0:  # an empty layer (all its weights pruned before) takes nothing
            continue
        if ratios[i] >= 1:
            extra, ratios[i] = extra + (ratios[i] - 1) * n, Fraction(1)
        else:
            taken = min(extra, (1 - ratios[i]) * n)
            extra, ratios[i] = extra - taken, ratios[i] + taken / n
    return [r * n for r, n in zip(ratios, sizes, strict=False)] + [fixed]


def test_smart_ratio_counts_round_the_public_shares_and_grow_with_keep():
    """Every feasible keep of random small networks: the counts sum to keep, each is the floor
    or ceiling of the public code's share, and no layer's count ever falls as keep grows."""
    rng = random.Random(0)
    for _ in range(60):
        sizes = [rng.randint(0 if i else 1, 30) for i in range(rng.randint(1, 6))]
        vgg, fixed = rng.random() < 0.5, round(0.3 * sizes[-1])
        before = [0] * len(sizes)
        for keep in range(fixed, sum(sizes[:-1]) + fixed + 1):
            counts = smart_ratio_counts(sizes, keep, vgg=vgg)
            shares = _public_shares(sizes, keep, vgg)
            assert sum(counts) == keep
            assert all(
                math.floor(x) <= c <= math.ceil(x) for x, c in zip(shares, counts, strict=True)
            )
            assert all(c >= b for c, b in zip(counts, before, strict=True)), (sizes, keep)
            before = counts


def test_random_counts_equal_ratios_and_nested_where_largest_remainders_are_not():
    """Sizes 6, 6, 2: largest remainders keep 4, 4, 2 of 10 but 5, 5, 1 of 11 (the Alabama
    paradox); these counts never fall and stay within one weight of rho * n."""
    sizes = [6, 6, 2]
    before = [0, 0, 0]
    for keep in range(15):
        counts = random_counts(sizes, keep)
        assert sum(counts) == keep
        assert all(abs(c - Fraction(keep * n, 14)) < 1 for c, n in zip(counts, sizes, strict=True))
        assert all(c >= b for c, b in zip(counts, before, strict=True))
        before = counts
    assert random_counts(sizes, 11) == [5, 5, 1]


def test_smart_ratio_counts_errors_say_what_to_change():
    with pytest.raises(ValueError, match=r"keep must be in \[0, 800\]"):
        smart_ratio_counts(SIZES, 801)
    with pytest.raises(ValueError, match="below the final layer's fixed share.*lower last_keep"):
        smart_ratio_counts(SIZES, 29)
    with pytest.raises(ValueError, match="hold only 700.*raise last_keep"):
        smart_ratio_counts(SIZES, 800)
    with pytest.raises(ValueError, match="last_keep"):
        smart_ratio_counts(SIZES, 200, last_keep=1.5)


def _weights() -> dict[str, torch.Tensor]:
    model = build_model("mlp", (1, 12), 3, seed=0, widths=(10, 8))
    return {n: w.detach() for n, w in prunable_weights(model).items()}


def _layer_counts(masks: dict[str, torch.Tensor]) -> list[int]:
    return [int(m.sum()) for m in masks.values()]


def _nested(small: dict[str, torch.Tensor], large: dict[str, torch.Tensor]) -> bool:
    return all(bool((small[n] <= large[n]).all()) for n in small)


def test_smart_ratio_masks_keep_the_counts_nested_and_reproducibly():
    weights = _weights()
    sizes = [w.numel() for w in weights.values()]  # 120, 80, 24
    path = smart_ratio_path(seed=3)(weights, None)
    keeps = range(7, 190, 9)
    for keep in keeps:
        masks = path(keep)
        assert _layer_counts(masks) == smart_ratio_counts(sizes, keep)
        assert all(m.dtype == torch.bool and m.shape == weights[n].shape for n, m in masks.items())
    for small, large in zip(keeps, keeps[1:], strict=False):
        assert _nested(path(small), path(large))
    again, other = smart_ratio_path(seed=3)(weights, None)(100), smart_ratio_path(4)(weights)(100)
    assert all(torch.equal(again[n], path(100)[n]) for n in weights)
    assert not all(torch.equal(other[n], again[n]) for n in weights)


def test_smart_ratio_masks_keep_only_surviving_entries():
    weights = _weights()
    g = torch.Generator().manual_seed(1)
    alive = {n: torch.rand(w.shape, generator=g) < 0.6 for n, w in weights.items()}
    path = smart_ratio_path(seed=0)(weights, alive)
    sizes = [int(m.sum()) for m in alive.values()]
    for keep in (10, 50, 90):
        masks = path(keep)
        assert _layer_counts(masks) == smart_ratio_counts(sizes, keep)
        assert _nested(masks, alive)


def test_random_path_keeps_the_same_ratio_in_every_layer():
    weights = _weights()
    sizes = [w.numel() for w in weights.values()]
    D = sum(sizes)
    path = random_path(seed=0)(weights)
    before = None
    for keep in (0, 1, 5, 17, 50, 111, 200, D):
        masks = path(keep)
        counts = _layer_counts(masks)
        assert sum(counts) == keep
        assert all(abs(c - keep * n / D) < 1 for c, n in zip(counts, sizes, strict=True))
        assert before is None or _nested(before, masks)
        before = masks
    assert all(torch.equal(random_path(0)(weights)(60)[n], path(60)[n]) for n in weights)


# ----------------------------------------------------------------------------- Rare Gems


def _two_classes(n: int, dim: int = 10) -> DatasetSplits:
    """Gaussian inputs, label 1[x_0 + x_1 > 0] (linearly separable), 1000 test samples."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 1000, dim, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    meta = {"scale": 1.0, "mean": [0.0], "std": [1.0], "input_shape": [dim], "num_classes": 2}
    cpu = torch.device("cpu")
    return DatasetSplits(
        Split(x[:n], y[:n], meta, cpu),
        Split(x[:0], y[:0], meta, cpu),
        Split(x[n:], y[n:], meta, cpu),
        meta,
    )


def _conv_bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Unflatten(1, (2, 5)),
        nn.Conv1d(2, 6, 3),
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(18, 2),
    )


FAST = RareGemsSettings(epochs=4, batch_size=50, lr=1.0, prune_every=1)


def test_rare_gems_leaves_the_parameters_untouched_and_hits_keep_exactly():
    data, model = _two_classes(200), _conv_bn_net()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    D = count_prunable(model)  # 36 + 36
    for keep in (0, 1, 3, 29, D):
        masks, history = rare_gems_masks(model, data, keep, FAST, seed=0, log=lambda _: None)
        assert sum(int(m.sum()) for m in masks.values()) == keep
        assert all(m.dtype == torch.bool for m in masks.values())
        assert history["survivors"][-1] == keep and len(history["loss"]) == FAST.epochs
    with pytest.raises(ValueError, match=r"keep must be in \[0, 72\]"):
        rare_gems_masks(model, data, D + 1, FAST, seed=0)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) and p.grad is None and p.requires_grad
    first, _ = rare_gems_masks(model, data, 29, FAST, seed=1, log=lambda _: None)
    second, _ = rare_gems_masks(model, data, 29, FAST, seed=1, log=lambda _: None)
    assert all(torch.equal(first[n], second[n]) for n in first)


def test_rare_gems_prunes_on_the_public_schedule():
    """Rounds after the 0-based epochs e > 0 with e % prune_every == 0: epochs 2, 4, 6 of 7,
    N = 3 rounds from D = 72 to 9 survivors: 72 (1/8)^(1/3) = 36, 72 (1/8)^(2/3) = 18, 9."""
    data, model = _two_classes(100), _conv_bn_net()
    s = RareGemsSettings(epochs=7, batch_size=50, prune_every=2)
    _, history = rare_gems_masks(model, data, 9, s, seed=0, log=lambda _: None)
    assert history["survivors"] == [72, 72, 36, 36, 18, 18, 9]
    assert survivor_targets(72, 9, 3) == [36, 18, 9]
    assert survivor_targets(1000, 0, 2) == [0, 0] and survivor_targets(10, 3, 0) == []
    assert history["lr"][0] == s.lr and history["lr"][-1] < history["lr"][1] < s.lr


def test_rare_gems_forward_uses_the_rounded_scores():
    """With a vanishing learning rate the scores stay at their draws (uniform, from
    ``make_generator(seed)``, layer after layer in model order): the first epoch's loss is that
    of the weights masked by 1[s > 0.5] (the objective adds l2 * sum s^2), and with no pruning
    round (one epoch) the mask keeps the ``keep`` largest scores (all above 0.5)."""
    data = _two_classes(200)
    model = build_model("mlp", (10,), 2, seed=0, widths=(16,))
    g = make_generator(5)
    scores = {n: torch.rand(w.shape, generator=g) for n, w in prunable_weights(model).items()}
    s = RareGemsSettings(epochs=1, batch_size=50, lr=1e-12, l2=0.5)
    masks, history = rare_gems_masks(model, data, 50, s, seed=5, log=lambda _: None)
    with masked(model, {n: sc > 0.5 for n, sc in scores.items()}):
        loss = evaluate(model, data.train)[0]
    assert history["loss"][0] == pytest.approx(loss, rel=1e-5)
    penalty = 0.5 * sum(float(sc.square().sum()) for sc in scores.values())
    assert history["objective"][0] - history["loss"][0] == pytest.approx(penalty, rel=1e-5)
    expected = global_magnitude_masks(scores, 50)
    assert all(torch.equal(masks[n], expected[n]) for n in masks)
    assert all(bool((scores[n][masks[n]] > 0.5).all()) for n in masks)


def test_rare_gems_finds_a_subnetwork_of_the_random_weights():
    """A frozen random MLP on a separable 2-class problem: the mined 10 % subnetwork is far
    above chance; random masks of the same size are not."""
    data = _two_classes(1000)
    model = build_model("mlp", (10,), 2, seed=0, widths=(64, 64))
    keep = count_prunable(model) // 10
    s = RareGemsSettings(epochs=10, batch_size=50, lr=1.0, prune_every=2)
    masks, history = rare_gems_masks(model, data, keep, s, seed=0, log=lambda _: None)
    with masked(model, masks):
        gem = evaluate(model, data.test)[1]
    weights = {n: w.detach() for n, w in prunable_weights(model).items()}
    chance = []
    for seed in range(3):
        with masked(model, random_path(seed)(weights)(keep)):
            chance.append(evaluate(model, data.test)[1])
    assert gem > 0.85 and max(chance) < 0.7, (gem, chance)
    assert history["loss"][-1] < history["loss"][0]


def test_rare_gems_settings_name_the_bad_field():
    for bad, field in (
        ({"prune_every": 0}, "prune_every"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": True}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"l2": -1e-4}, "l2"),
        ({"l2": math.nan}, "l2"),
    ):
        with pytest.raises(ValueError, match=rf"RareGemsSettings\.{field} must be"):
            RareGemsSettings(**bad)
    with pytest.raises(ValueError, match="unknown keys"):
        RareGemsSettings.from_dict({"rounds": 3})
    assert RareGemsSettings().as_dict()["l2"] == 1e-4
