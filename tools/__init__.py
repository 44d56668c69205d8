"""Maintainers' tools, not installed with the package: the site build and check, the Emoji Motion builder and
the rebuild of the shipped models. Run from the repository root, e.g. ``python -m tools.site_build``."""
