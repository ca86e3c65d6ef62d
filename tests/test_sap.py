"""SAP, Lottery Ticket and One Shot: counts per scope group, rewinding and resumption."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import prunelimit.sap.iterative as sap_mod
from conftest import toy_splits
from prunelimit.config.kinds import rescaled
from prunelimit.config.settings import TrainSettings
from prunelimit.data import DatasetSplits
from prunelimit.pruning import Masks, full_masks, keep_largest, prune_smallest
from prunelimit.sap.iterative import run_pruning
from prunelimit.sap.strategies import SAP, LotteryTicket, OneShot, PruneSettings, PruningState
from prunelimit.training.loop import evaluate


# One step of each strategy, as functions of the masks (the tests' shorthand).
def sap_step(
    weights: dict[str, torch.Tensor],
    masks: Masks,
    scope: str,
    p: float = 0.5,
    q: float = 1.0,
    eta_r: float = 0.0,
    gamma: float = 1.0,
    beta: float = 0.9,
) -> tuple[Masks, dict]:
    """One SAP step (:class:`SAP`); ``info`` as :func:`scoped_step`."""
    hyper = PruneSettings(p=p, q=q, eta_r=eta_r, gamma=gamma, beta=beta)
    return SAP(scope, hyper).next_masks(weights, masks, PruningState(0))


def lt_step(
    weights: dict[str, torch.Tensor],
    masks: Masks,
    scope: str,
    rate: float = 0.2,
    p: float = 0.5,
    q: float = 1.0,
) -> tuple[Masks, dict]:
    """One Lottery Ticket step (:class:`LotteryTicket`; ``pqi``, ``r`` with ``p``, ``q``)."""
    hyper = PruneSettings(p=p, q=q, lt_rate=rate)
    return LotteryTicket(scope, hyper).next_masks(weights, masks, PruningState(0))


def os_masks(
    dense: dict[str, torch.Tensor],
    scope: str,
    keep_fraction: float,
    weights: dict[str, torch.Tensor] | None = None,
    masks: Masks | None = None,
    p: float = 0.5,
    q: float = 1.0,
) -> tuple[Masks, dict]:
    """One Shot masks at ``keep_fraction`` (:meth:`OneShot.masks_at`); without ``weights``/
    ``masks`` the measurements describe the dense weights."""
    weights = dense if weights is None else weights
    if masks is None:
        masks = full_masks(weights)
    return OneShot(scope, PruneSettings(p=p, q=q)).masks_at(dense, keep_fraction, weights, masks)


SCOPES = ("global", "layer", "neuron")


def known_weights(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Heavy-tailed weights (a Linear- and a Conv-shaped tensor) and a partial mask."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"fc.weight": (5, 12), "conv.weight": (4, 3, 5)}
    weights = {k: torch.randn(*s, generator=g) ** 3 for k, s in shapes.items()}
    masks = {k: torch.rand(*s, generator=g) < 0.8 for k, s in shapes.items()}
    return weights, masks


def groups(weights, masks, scope):
    """(values, kept mask) per scope group, as flat numpy arrays, written independently."""
    if scope == "global":
        return [
            (
                np.concatenate([w.numpy().ravel() for w in weights.values()]),
                np.concatenate([masks[k].numpy().ravel() for k in weights]),
            )
        ]
    if scope == "layer":
        return [(w.numpy().ravel(), masks[k].numpy().ravel()) for k, w in weights.items()]
    return [
        (w.numpy().reshape(w.shape[0], -1)[i], masks[k].numpy().reshape(w.shape[0], -1)[i])
        for k, w in weights.items()
        for i in range(w.shape[0])
    ]


def expected_sap_count(v: np.ndarray, p, q, eta_r, gamma, beta) -> int:
    a = np.abs(v.astype(np.float64))
    d = len(a)
    index = 1 - d ** (1 / q - 1 / p) * (a**p).sum() ** (1 / p) / (a**q).sum() ** (1 / q)
    r = d * (1 + eta_r) ** (-q / (q - p)) * (1 - index) ** (q * p / (q - p))
    return math.floor(d * min(gamma * (1 - r / d), beta))


def check_smallest_removed(old_groups, new_groups, counts):
    for (v, m), (_, m_new), c in zip(old_groups, new_groups, counts, strict=True):
        assert not (m_new & ~m).any(), "a pruned weight came back"
        removed = m & ~m_new
        assert removed.sum() == c
        if 0 < c < m.sum():
            assert np.abs(v[removed]).max() <= np.abs(v[m_new]).min()


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(
    "hyper", [(0.5, 1.0, 0.0, 1.0, 0.9), (1.0, 2.0, 0.0, 1.0, 0.9), (0.5, 1.0, 0.2, 3.0, 0.5)]
)
def test_sap_step_prunes_formula_count(scope, hyper):
    weights, masks = known_weights()
    p, q, eta_r, gamma, beta = hyper
    old = groups(weights, masks, scope)
    counts = [expected_sap_count(v[m], *hyper) for v, m in old]
    assert sum(counts) > 0
    new_masks, info = sap_step(weights, masks, scope, p, q, eta_r, gamma, beta)
    check_smallest_removed(old, groups(weights, new_masks, scope), counts)
    assert info["c"].tolist() == counts
    assert info["d"].tolist() == [int(m.sum()) for _, m in old]
    assert len(info["pqi"]) == len(old) == len(info["layer"])
    if hyper[4] == 0.5:  # the beta cap binds somewhere
        assert any(c == math.floor(0.5 * m.sum()) for c, (_, m) in zip(counts, old, strict=True))


def test_sap_groups_without_weights_are_left_alone():
    weights, masks = known_weights()
    masks["fc.weight"][2] = False  # an output row with no kept weight
    weights["conv.weight"][1] = 0.0  # a row of zeros: PQI undefined
    new, info = sap_step(weights, masks, "neuron")
    assert not new["fc.weight"][2].any()
    assert torch.equal(new["conv.weight"][1], masks["conv.weight"][1])
    assert info["c"][2] == 0 and math.isnan(info["pqi"][2])


@pytest.mark.parametrize("scope", SCOPES)
def test_lt_removes_a_fifth_of_the_remaining(scope):
    weights, masks = known_weights(1)
    old = groups(weights, masks, scope)
    counts = [math.floor(0.2 * m.sum() + 0.5) for _, m in old]
    new_masks, info = lt_step(weights, masks, scope, 0.2)
    check_smallest_removed(old, groups(weights, new_masks, scope), counts)
    assert info["c"].tolist() == counts


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("t", [1, 3, 6])
def test_os_keeps_power_of_the_rate(scope, t):
    dense, _ = known_weights(2)
    full = {k: torch.ones_like(w, dtype=torch.bool) for k, w in dense.items()}
    new_masks, _ = os_masks(dense, scope, 0.8**t)
    for (v, _), (_, m) in zip(
        groups(dense, full, scope), groups(dense, new_masks, scope), strict=True
    ):
        assert m.sum() == math.floor(0.8**t * len(v) + 0.5)
        if 0 < m.sum() < len(v):
            assert np.abs(v[~m]).max() <= np.abs(v[m]).min()


def test_rowwise_pruning_matches_the_single_row_helper():
    """The neuron scope prunes every row at once (``keep_largest`` over rows); each row is what
    ``prune_smallest`` gives it alone (a count beyond the row's kept entries prunes them all)."""
    g = torch.Generator().manual_seed(3)
    values = torch.randn(7, 11, generator=g)
    mask = torch.rand(7, 11, generator=g) < 0.7
    counts = torch.tensor([0, 1, 2, 3, 20, 5, 4])
    kept = mask.sum(1)
    got = keep_largest(values, mask, kept - torch.minimum(counts, kept))
    for i in range(7):
        assert torch.equal(got[i], prune_smallest(values[i], mask[i], int(counts[i])))


def test_iteration_settings():
    train = TrainSettings(
        epochs=200,
        lr=0.1,
        l1=5e-5,
        schedule="multistep",
        milestones=(60, 120, 160),
        warmup_epochs=5,
    )
    s = rescaled(train, 20)
    assert (s.epochs, s.l1, s.milestones, s.warmup_epochs, s.lr) == (20, 0.0, (6, 12, 16), 0, 0.1)


# --------------------------------------------------------------------------- driver


class TinyNet(nn.Module):
    """Conv + BatchNorm + Linear: biases and BN statistics must be rewound too."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4 * 8, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def tiny_data(n: int = 192) -> DatasetSplits:
    return toy_splits(n, (1, 8))


def build() -> nn.Module:
    torch.manual_seed(7)
    net = TinyNet()
    with torch.no_grad():  # non-trivial initial biases and BN buffers, to see them rewound
        net.conv.bias.uniform_(-1, 1)
        net.bn.running_mean.fill_(0.3)
    return net


TRAIN = TrainSettings(epochs=3, batch_size=32, lr=0.05, l1=1e-3)


def run(method, scope, checkpoint=None, log=lambda s: None, iterations=2):
    return run_pruning(
        method,
        scope,
        build,
        tiny_data(),
        TRAIN,
        iterations,
        3,
        PruneSettings(),
        seed=0,
        checkpoint=checkpoint,
        log=log,
    )


def test_rewind_restores_init_under_mask(monkeypatch):
    init = build().state_dict()
    seen = []
    real_fit = sap_mod.fit

    def spy(model, data, settings, seed, masks=None, **kw):
        seen.append(
            (
                {k: v.clone() for k, v in model.state_dict().items()},
                {k: m.clone() for k, m in masks.items()},
            )
        )
        assert settings.l1 == 0.0 and settings.epochs == 3
        return real_fit(model, data, settings, seed, masks=masks, **kw)

    monkeypatch.setattr(sap_mod, "fit", spy)
    records = run("lt", "layer")
    assert len(seen) == 3 and [r["iteration"] for r in records] == [0, 1, 2]
    assert records[-1]["percent"] < records[0]["percent"] == 100.0
    for state, masks in seen:
        for name, value in init.items():
            expected = value * masks[name] if name in masks else value
            assert torch.equal(state[name], expected), name
    assert not seen[2][1]["fc.weight"].all()


def test_iteration_zero_is_shared_and_records_are_sane():
    a, b = run("sap", "neuron", iterations=1), run("os", "global", iterations=1)
    assert a[0]["test_acc"] == b[0]["test_acc"] and a[0]["pqi_trained"] == b[0]["pqi_trained"]
    for rec in a + b:
        assert 0 <= rec["pqi_pruned"] < 1 and 0 <= rec["pqi_trained"] < 1
        assert rec["next_percent"] <= rec["percent"]
        assert set(rec["layers"]) == {"conv.weight", "fc.weight"}
    assert b[1]["percent"] == pytest.approx(80.0, abs=0.5)


def test_the_just_pruned_accuracy_is_of_the_trained_weights_under_the_next_mask():
    """``pruned_test_acc`` of iteration t: ``w_t * m_{t+1}`` evaluated before retraining,
    computed again here from what an observer saw (``w_t``, then ``m_{t+1}`` at t + 1)."""
    seen = []

    def observer(t, model, masks):
        seen.append(({k: v.clone() for k, v in model.state_dict().items()}, masks))

    data = tiny_data()
    records = run_pruning("lt", "global", build, data, TRAIN, 2, 3, PruneSettings(), seed=0,
                          log=lambda s: None, observer=observer)  # fmt: skip
    for t in range(2):
        state, next_masks = seen[t][0], seen[t + 1][1]
        net = build()
        net.load_state_dict({k: v * next_masks[k] if k in next_masks else v
                             for k, v in state.items()})  # fmt: skip
        _, acc = evaluate(net, data.test)
        assert records[t]["pruned_test_acc"] == acc
        assert records[t]["test_acc"] == evaluate(_loaded(state), data.test)[1]  # restored


def _loaded(state: dict) -> nn.Module:
    net = build()
    net.load_state_dict(state)
    return net


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("method", ["sap", "os"])
def test_resume_gives_identical_records(tmp_path, monkeypatch, method):
    reference = run(method, "global", checkpoint=tmp_path / "ref.ckpt")
    ckpt = tmp_path / "run.ckpt"

    # 1) killed between iterations: the third training never starts
    real_fit, calls = sap_mod.fit, []

    def dies_at_third(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise Interrupt
        return real_fit(*args, **kw)

    monkeypatch.setattr(sap_mod, "fit", dies_at_third)
    with pytest.raises(Interrupt):
        run(method, "global", checkpoint=ckpt)
    monkeypatch.setattr(sap_mod, "fit", real_fit)
    assert ckpt.exists()

    # 2) killed inside an iteration, after its first epoch was checkpointed
    lines = []

    def dies_mid_iteration(msg):
        lines.append(msg)
        if msg.startswith("epoch    2/"):
            raise Interrupt

    with pytest.raises(Interrupt):
        run(method, "global", checkpoint=ckpt, log=dies_mid_iteration)
    assert any(m.startswith("resumed") for m in lines)
    assert ckpt.with_name(ckpt.name + ".iter").exists()

    resumed_log = []
    resumed = run(method, "global", checkpoint=ckpt, log=resumed_log.append)
    assert any("after epoch 1" in m for m in resumed_log)
    assert resumed == reference


@pytest.mark.parametrize("method", ["sap", "os"])
def test_shared_dense_start_gives_the_records_of_a_full_run(method):
    """Iteration 0 trained once (dense_start) and passed to every method and scope gives
    exactly the records of a run that trains it itself."""
    from prunelimit.sap.iterative import dense_start

    data = tiny_data()
    start = dense_start(build, data, replace(TRAIN, l1=0.0), seed=0, log=lambda s: None)
    full = run(method, "neuron")
    shared = run_pruning(
        method,
        "neuron",
        build,
        data,
        TRAIN,
        2,
        3,
        PruneSettings(),
        seed=0,
        log=lambda s: None,
        start=start,
    )
    assert shared == full
    other = dense_start(build, data, rescaled(TRAIN, 2), seed=0, log=lambda s: None)  # other E
    with pytest.raises(ValueError, match="dense start"):
        run_pruning(method, "neuron", build, data, TRAIN, 2, 3, PruneSettings(), 0, start=other)


def test_the_torch_free_keys_are_the_strategies_own():
    """The workflow plans SAP jobs from prunelimit.sap.keys without importing torch; each
    built-in strategy reads exactly the keys listed there."""
    from prunelimit.sap.keys import STRATEGY_KEYS
    from prunelimit.sap.strategies import STRATEGIES

    assert set(STRATEGY_KEYS) <= set(STRATEGIES)
    for name, keys in STRATEGY_KEYS.items():
        assert STRATEGIES[name].hyper_keys == keys
