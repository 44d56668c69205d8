"""Experiments: multi-seed comparisons with paired statistics, their tables, verdicts and figures, data cards.

Modules: ``comparison`` (:class:`Variant`, :func:`run_comparison`, :func:`summarize`, :func:`train_models`),
``report`` (tables, computed verdicts, figures, ``results.md``), ``data_card`` (what a dataset holds and how
CrossCLR's weighting will treat it; ``python -m crossclr_lab.experiments.data_card``).
"""

from .comparison import Variant, ablation_variants, as_variants, run_comparison, summarize, train_models
from .report import comparison_figures, format_table, verdict_lines, write_figures, write_report

__all__ = ["Variant", "ablation_variants", "as_variants", "run_comparison", "summarize", "train_models",
           "comparison_figures", "format_table", "verdict_lines", "write_figures", "write_report"]
