import torch

from cyclegan.pool import ImagePool


def test_fills_then_returns_inputs_until_full():
    pool = ImagePool(3)
    batch = torch.arange(2.0).view(2, 1, 1, 1)
    assert torch.equal(pool.query(batch), batch)
    assert len(pool.images) == 2
    pool.query(torch.tensor([2.0, 3.0]).view(2, 1, 1, 1))
    assert len(pool.images) == 3  # never grows past its size


def test_mixes_history_once_full():
    torch.manual_seed(0)
    pool = ImagePool(5)
    pool.query(torch.full((5, 1, 1, 1), -1.0))  # history: all -1
    out = pool.query(torch.arange(200.0).view(200, 1, 1, 1))
    from_history = (out.flatten() < 0).sum().item() + sum(
        1 for i, v in enumerate(out.flatten().tolist()) if v >= 0 and v != i)
    # About half the queries swap with the history, so some come back old and most come back as is.
    assert 50 < from_history < 150
    assert len(pool.images) == 5 and out.shape == (200, 1, 1, 1)


def test_size_zero_is_passthrough_and_state_round_trips():
    assert torch.equal(ImagePool(0).query(torch.ones(2, 1, 1, 1)), torch.ones(2, 1, 1, 1))
    pool = ImagePool(2)
    pool.query(torch.randn(2, 3, 4, 4))
    clone = ImagePool(7)
    clone.load_state_dict(pool.state_dict())
    assert clone.size == 2 and all(torch.equal(a, b) for a, b in zip(clone.images, pool.images))
