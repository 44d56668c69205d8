"""Downstream captioning from frozen clip vectors (the paper's MART test, at laptop scale).

Modules: ``model`` (vocabulary, a GRU captioner, training and decoding), ``metrics`` (BLEU, METEOR, ROUGE-L,
CIDEr-D through pycocoevalcap, and RE@4), ``compare`` (captioners on CrossCLR / InfoNCE / raw clip vectors over
seeds: ``crossclr-lab caption``).
"""
