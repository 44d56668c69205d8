"""FeatureQueue: FIFO order, registered buffers, state_dict round trips, dimension checks, reset."""

import pytest
import torch

from crossclr_lab.losses import CrossCLRLoss, FeatureQueue


def rows(n, d, start=0):
    return torch.arange(start, start + n * d, dtype=torch.float32).reshape(n, d)


def test_fifo_order_and_wraparound():
    q = FeatureQueue(size=5)
    q.enqueue(rows(3, 2), -rows(3, 2), rows(3, 4), rows(3, 1))
    assert int(q.filled) == 3 and int(q.ptr) == 3
    q.enqueue(rows(3, 2, start=100), -rows(3, 2, start=100), rows(3, 4), rows(3, 1))
    assert int(q.filled) == 5 and int(q.ptr) == 1
    # slots 3, 4, 0 hold the second batch: its last row overwrote the oldest entry
    torch.testing.assert_close(q.video[[3, 4, 0]], rows(3, 2, start=100))
    torch.testing.assert_close(q.video[[1, 2]], rows(3, 2)[1:])


def test_larger_batch_keeps_its_last_rows():
    q = FeatureQueue(size=2)
    q.enqueue(rows(5, 3), rows(5, 3))
    torch.testing.assert_close(q.video, rows(5, 3)[3:])
    assert q.video_feat.shape == (2, 0)


def test_contents_before_and_after_allocation():
    q = FeatureQueue(size=4)
    v = torch.randn(3, 6)
    empty = q.contents(v, torch.randn(3, 2), None)
    assert empty.video.shape == (0, 6) and empty.valid.shape == (0,) and empty.text_feat is None
    q.enqueue(v, v, torch.randn(3, 2), torch.randn(3, 2))
    c = q.contents(v, torch.randn(3, 2), torch.randn(3, 2))
    assert c.valid.tolist() == [True, True, True, False] and c.video_feat.shape == (4, 2)
    with pytest.raises(ValueError, match="reset_queue"):
        q.contents(torch.randn(3, 5))
    with pytest.raises(ValueError, match="reset_queue"):
        q.contents(v, torch.randn(3, 7))


def test_state_dict_round_trip_and_reset():
    q = FeatureQueue(size=4)
    q.enqueue(rows(3, 2), rows(3, 2), rows(3, 3), rows(3, 3))
    fresh = FeatureQueue(size=4)
    fresh.load_state_dict(q.state_dict())
    for name in ("video", "text", "video_feat", "text_feat", "ptr", "filled"):
        torch.testing.assert_close(getattr(fresh, name), getattr(q, name))
    q.reset()
    assert int(q.filled) == 0 and q.video.numel() == 0


def test_zero_size_stays_empty():
    q = FeatureQueue(size=0)
    q.enqueue(rows(3, 2), rows(3, 2))
    assert q.video.numel() == 0 and q.contents(rows(3, 2)).video.shape == (0, 2)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_bad_size(bad):
    with pytest.raises(ValueError, match="queue_size"):
        FeatureQueue(bad)


def test_crossclr_holds_a_feature_queue():
    loss_fn = CrossCLRLoss(queue_size=8)
    assert isinstance(loss_fn.queue, FeatureQueue) and loss_fn.queue_size == 8
