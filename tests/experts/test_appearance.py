"""The appearance expert: pinned packages, weight checksum, TF-Lite preprocessing, the CNN's pooled features."""

from importlib import metadata

import numpy as np
import pytest
import torch

from crossclr_lab.experts import appearance


def _require_cnn():
    try:
        appearance.check_installed()
    except ImportError as err:
        pytest.skip(f"the builder's CNN packages are not installed (pyproject's `build` extra): {err}")


def test_missing_or_unpinned_packages_say_how_to_install(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(appearance.metadata, "version", missing)
    with pytest.raises(ImportError, match=r"make install` installs it, or pip install -e '\.\[video\]'"):
        appearance.check_installed()
    monkeypatch.setattr(appearance.metadata, "version", lambda name: "9.9")
    with pytest.raises(ImportError, match="pinned to 0.1.0"):
        appearance.check_installed()


def test_weight_file_with_another_checksum_is_refused(tmp_path):
    fake = tmp_path / "efficientnet-lite0-57934424.pth"
    fake.write_bytes(b"not the weights")
    with pytest.raises(ValueError, match="sha256"):
        appearance.load_lite0(fake)


def test_preprocess_is_the_tf_lite_normalisation():
    frames = np.array([0, 127, 255], np.uint8).reshape(1, 1, 3, 1).repeat(3, axis=3)    # [1, 1, 3, 3]
    x = appearance.preprocess(frames)
    assert x.shape == (1, 3, 1, 3) and x.dtype == torch.float32
    assert torch.allclose(x[0, 0, 0], torch.tensor([-127 / 128, 0.0, 1.0]))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="uint8"):
        appearance.preprocess(frames.astype(np.float32))


@pytest.fixture(scope="module")
def lite0():
    _require_cnn()
    torch.set_num_threads(1)
    return appearance.load_lite0()


def _drawing(shift: int) -> np.ndarray:
    """A white 160x160 frame with a dark disc and a red bar."""
    yy, xx = np.mgrid[:160, :160]
    img = np.full((160, 160, 3), 255, np.uint8)
    img[(yy - 80) ** 2 + (xx - 60 - shift) ** 2 < 900] = (30, 30, 30)
    img[120:140, 20 + shift:100 + shift] = (220, 20, 20)
    return img


def test_features_are_pooled_relu6_and_do_not_depend_on_the_batch(lite0):
    frames = np.stack([_drawing(0), _drawing(40), np.full((160, 160, 3), 255, np.uint8)])
    feats = appearance.extract(lite0, frames)
    assert feats.shape == (3, appearance.FEATURE_DIM) and feats.dtype == np.float32
    assert (feats >= 0).all() and (feats <= 6).all() and (feats == 0).mean() > 0.2
    assert np.array_equal(appearance.extract(lite0, frames[1:2]), feats[1:2])      # batch-independent, repeatable
    cos = feats @ feats.T / np.outer(np.linalg.norm(feats, axis=1), np.linalg.norm(feats, axis=1))
    assert cos[0, 1] > cos[0, 2] and cos[0, 1] < 0.9999                 # the shifted drawing is the closer one
