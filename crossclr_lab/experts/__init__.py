"""Input experts: frames and text to the fixed feature vectors CrossCLR is trained on.

Modules: ``appearance`` (ImageNet-pretrained EfficientNet-Lite0, the ``build`` extra), ``text_encoder`` (MiniLM
sentence features of captions and queries).
"""
