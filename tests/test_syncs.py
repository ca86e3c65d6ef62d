"""Host synchronisations (``prunelimit.guard.syncs``): counted on the CPU as a CUDA run would
make them; a training epoch makes a fixed number, whatever its number of steps, augmentation
included, with the same draws as batch by batch."""

import pytest
import torch

from conftest import toy_splits
from prunelimit.guard.syncs import SyncCounter


def test_the_counter_counts_reads_uploads_and_synchronising_operators():
    x = torch.randn(6)
    with SyncCounter() as c:
        x.sum().item()
        float(x.max())
        if x.sum() > 0:
            pass
        x.tolist()
        x.double().cpu().numpy()  # one read: .numpy() of what .cpu() returned is on the host
        x[x > 0]  # a boolean mask: nonzero on CUDA
        torch.nonzero(x)
        torch.unique(x)
        x.to("cpu")
        x.to(torch.float64)  # a cast names no device
        x.to(x)  # nor does .to(other)
        torch.tensor([1.0, 2.0], device="cpu")
        torch.tensor([1.0, 2.0])  # made on the host, not uploaded
        x.to("cpu", non_blocking=True)
    assert dict(c.counts) == {
        "read:item": 3,
        "read:tolist": 1,
        "read:cpu": 1,
        "sync:index": 1,
        "sync:nonzero": 1,
        "sync:_unique2": 1,
        "upload:to": 1,
        "upload:tensor": 1,
    }
    assert c.total == 10
    assert torch.Tensor.tolist is not None and "wrapper" not in repr(torch.Tensor.tolist)


def test_a_cuda_jobs_counter_ignores_host_tensors():
    x = torch.randn(4)
    with SyncCounter("cuda") as c:
        x.tolist()
        x.numpy()
        x.sum().item()  # a dispatched read counts on any device
    assert dict(c.counts) == {"read:item": 1}


def _old_batches(split, batch_size, generator, augment, limit=None):
    """``Split.batches`` before the epoch's draws went to the device at once (the reference)."""
    n = len(split) if limit is None else min(limit, len(split))
    order = torch.randperm(len(split), generator=generator)[:n].to(split.x.device)
    for start in range(0, n, batch_size):
        x, y = split.get(order[start : start + batch_size])
        if augment and split.augmentable:
            m, _, h, w = x.shape
            shifts = torch.randint(0, 9, (m, 2), generator=generator)
            flips = torch.rand(m, generator=generator) < 0.5
            padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
            rows = (torch.arange(h)[None, :] + shifts[:, :1]).to(x.device)
            cols = (torch.arange(w)[None, :] + shifts[:, 1:]).to(x.device)
            cols = torch.where(flips[:, None].to(x.device), cols.flip(1), cols)
            bidx = torch.arange(m, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]
            x = x.permute(0, 3, 1, 2).contiguous()
        yield x, y


@pytest.mark.parametrize(("augment", "limit"), [(True, None), (True, 13), (False, None)])
def test_an_epochs_batches_are_the_batch_by_batch_draws(augment, limit):
    split = toy_splits(22, (3, 8, 8)).train
    split.augmentable = True
    g_new, g_old = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    new = list(split.batches(4, g_new, augment=augment, limit=limit))
    old = list(_old_batches(split, 4, g_old, augment, limit))
    assert len(new) == len(old) > 1
    for (xa, ya), (xb, yb) in zip(new, old, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(g_new.get_state(), g_old.get_state())  # the next epoch draws the same


def _epoch_counts(batch_size: int) -> dict[str, int]:
    """Synchronisations of one epoch of ``fit`` (two epochs' minus one's): an MLP on 20
    images with augmentation, l1, masks and the per-epoch evaluation."""
    from prunelimit.config.settings import TrainSettings
    from prunelimit.models.registry import build_model
    from prunelimit.pruning import global_magnitude_masks, prunable_weights
    from prunelimit.training.loop import fit

    data = toy_splits(20, (3, 8, 8))
    data.train.augmentable = True
    counts = []
    for epochs in (1, 2):
        model = build_model("mlp", (3, 8, 8), 3, seed=0, widths=(32, 16))
        weights = {k: w.detach() for k, w in prunable_weights(model).items()}
        masks = global_magnitude_masks(weights, sum(w.numel() for w in weights.values()) // 2)
        s = TrainSettings(epochs=epochs, batch_size=batch_size, l1=1e-4, augment=True)
        with SyncCounter() as c:
            fit(model, data, s, 0, masks=masks, log=lambda _: None)
        counts.append(c.counts)
    return dict(counts[1] - counts[0])


def test_a_training_epoch_makes_a_fixed_number_of_host_synchronisations():
    """One upload (the order, crops and flips of the epoch) and three reads (the epoch's sums,
    the validation and the test evaluation), for 2 steps per epoch as for 5."""
    two, five = _epoch_counts(10), _epoch_counts(4)
    assert two == five == {"upload:to": 1, "read:tolist": 3}
