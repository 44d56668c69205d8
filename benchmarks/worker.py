"""Entry point of a measuring subprocess: ``python -m benchmarks.worker`` reads one JSON object on stdin
(``section`` plus that section's arguments) and prints one JSON object, the measurement, as its last line."""

from __future__ import annotations

import json
import sys


def main() -> int:
    args = json.loads(sys.stdin.read())
    section = args.get("section")
    if section == "loss_memory":
        from .loss_memory import measure
    elif section == "retrieval":
        from .retrieval import measure
    elif section == "umap":
        from .umap_map import measure
    else:
        raise ValueError(f"unknown section {section!r}; expected loss_memory, retrieval or umap")
    print(json.dumps(measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
