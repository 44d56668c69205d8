"""Benchmarks of crossclr_lab: losses vs peers and the matmul bound, memory, metrics, end to end, UMAP.

Run ``python -m benchmarks.run`` (full; rewrites benchmarks/README.md) or ``python -m benchmarks.run --quick``.
"""
