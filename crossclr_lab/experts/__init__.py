"""Input experts: frames and text to the fixed feature vectors CrossCLR is trained on, one implementation of each,
used by the Emoji Motion builder and by ``crossclr-lab extract``.

Modules: ``frames`` (frame sampling, squaring, resizing, compositing), ``motion`` (the weight-free motion grid),
``video`` (decoding video files with PyAV, animated images with Pillow; the sampled frames), ``appearance``
(ImageNet-pretrained EfficientNet-Lite0, the ``video``/``build`` extra), ``text_encoder`` (MiniLM sentence
features of captions and queries).
"""
