"""Notebook companions: one module per notebook, holding that notebook's computation, figures and widgets."""
