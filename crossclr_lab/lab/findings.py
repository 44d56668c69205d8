"""Result tables and the verdicts computed from them, displayed so that a test can hold each verdict to its table.

A notebook never states a result in hand-written prose: it shows a :class:`Table` and a :class:`Verdict` whose
Markdown is generated from the same numbers. Each verdict carries :class:`Claim` objects, one per number or
relation its text relies on (a cell's value, a star "beyond seed noise", one row above another). :func:`show`
displays tables and verdicts as Markdown with their name and claims in the output's metadata, and
:func:`check_claims` re-reads the *displayed* table text and tests every claim against it, so a verdict that
disagrees with what the learner sees is caught (``tests/test_notebooks.py`` runs it on every executed notebook).

Example::

    table = Table("ablation", ["variant", "T→V R@1"], [["full", "3.0"], ["no weighting", "6.4"]])
    verdict = Verdict("ablation", "Removing weighting raises T→V R@1 to **6.4**.",
                      [Claim("ablation", "no weighting", "T→V R@1", value=6.4, relation="max")])
    show(table); show(verdict)
    check_claims({"ablation": table.markdown()}, verdict)   # [] when every claim holds
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

METADATA_KEY = "crossclr_lab"
RELATIONS = ("beyond_noise", "within_noise", "positive", "negative", "max", "min", "gt", "lt", "ge", "le")
_NUMBER = re.compile(r"[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass
class Table:
    """A named Markdown table: ``columns`` (the first names the row labels) and ``rows`` of formatted cells."""

    name: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""

    def __post_init__(self) -> None:
        bad = [r for r in self.rows if len(r) != len(self.columns)]
        if bad:
            raise ValueError(f"table {self.name!r}: every row needs {len(self.columns)} cells, got {bad[0]!r}")

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")


@dataclass
class Claim:
    """One fact a verdict's text relies on, checkable against a displayed table.

    ``value``: the number of cell (``row``, ``column``) of table ``table`` as the text quotes it (compared to the
    cell's first number at the cell's printed precision). ``relation`` (optional), one of :data:`RELATIONS`:
    ``beyond_noise``/``within_noise`` (the cell has / has no ``*``), ``positive``/``negative`` (the cell's
    sign), ``max``/``min`` (largest/smallest of ``column`` over the rows ``among``, all rows when empty),
    ``gt``/``lt``/``ge``/``le`` (compared with the cell of row ``other`` — default: the same row — in column
    ``other_column`` — default: the same column).
    """

    table: str
    row: str
    column: str
    value: float | None = None
    relation: str | None = None
    other: str | None = None
    among: list[str] = field(default_factory=list)
    other_column: str | None = None

    def __post_init__(self) -> None:
        if self.relation is not None and self.relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got {self.relation!r}")
        if self.relation in ("gt", "lt", "ge", "le") and self.other is None and self.other_column is None:
            raise ValueError(f"relation {self.relation!r} needs other=<row label> and/or other_column=<column>")


@dataclass
class Verdict:
    """A computed statement: ``text`` (Markdown) and the :class:`Claim` objects it rests on."""

    name: str
    text: str
    claims: list[Claim] = field(default_factory=list)

    def markdown(self) -> str:
        return self.text


def show(item: Table | Verdict, name: str | None = None) -> None:
    """Display a :class:`Table` or :class:`Verdict` (or a Markdown table string with ``name``) as Markdown, tagged
    in the output metadata (``{"crossclr_lab": {"kind", "name", "claims"}}``) for :func:`notebook_findings`."""
    from IPython.display import Markdown, display

    if isinstance(item, str):
        if name is None:
            raise ValueError("a Markdown string needs name= (the table name claims refer to)")
        text, meta = item, {"kind": "table", "name": name}
    elif isinstance(item, Table):
        text, meta = item.markdown(), {"kind": "table", "name": name or item.name}
    elif isinstance(item, Verdict):
        text, meta = item.text, {"kind": "verdict", "name": name or item.name,
                                 "claims": [asdict(c) for c in item.claims]}
    else:
        raise TypeError(f"show takes a Table, a Verdict or a Markdown table string, got {type(item).__name__}")
    display(Markdown(text), metadata={METADATA_KEY: meta})


# -- reading tables back and checking claims ---------------------------------------------------------------------
def parse_markdown_table(text: str) -> dict[str, dict[str, str]]:
    """The first Markdown table in ``text`` as ``{row label: {column: cell text}}`` (labels stripped)."""
    lines = [ln.strip() for ln in text.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("|")), None)
    if start is None or start + 1 >= len(lines) or not set(lines[start + 1]) <= set("|-: "):
        raise ValueError("no Markdown table found (a '| a | b |' header followed by a '|---|---|' line)")
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0]] = dict(zip(header[1:], cells[1:]))
    return table


def cell_number(cell: str) -> tuple[float, int]:
    """The first number of a cell (``"-2.8 ± 2.3 *"`` → ``(-2.8, 1)``) and its count of printed decimals."""
    match = _NUMBER.search(cell.replace("−", "-"))
    if match is None:
        raise ValueError(f"cell {cell!r} holds no number")
    text = match.group(0).split("e")[0]
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(match.group(0)), decimals


def check_claims(tables: dict[str, str], verdict: Verdict | dict) -> list[str]:
    """Problems of ``verdict``'s claims against ``tables`` (``{name: displayed Markdown}``); ``[]`` when all hold.

    Each claimed value must equal its cell (at the cell's printed precision) and appear in the verdict's text at
    that precision; each relation must hold among the displayed cells. ``verdict`` may be a :class:`Verdict` or
    the dict :func:`notebook_findings` returns (``{"name", "text", "claims": [...]}``).
    """
    if isinstance(verdict, Verdict):
        claims, name, text = verdict.claims, verdict.name, verdict.text
    else:
        claims = [Claim(**c) for c in verdict.get("claims", [])]
        name, text = verdict.get("name", "?"), verdict.get("text")
    problems = []
    parsed: dict[str, dict] = {}
    for claim in claims:
        where = f"verdict {name!r}, claim on {claim.table}[{claim.row!r}][{claim.column!r}]"
        if claim.table not in tables:
            problems.append(f"{where}: no table named {claim.table!r} was displayed")
            continue
        table = parsed.setdefault(claim.table, parse_markdown_table(tables[claim.table]))
        try:
            cell = table[claim.row][claim.column]
            number, decimals = cell_number(cell)
        except (KeyError, ValueError) as err:
            problems.append(f"{where}: cell not found or not a number ({err!r})")
            continue
        if claim.value is not None:
            if abs(number - claim.value) > 0.5 * 10 ** -decimals + 1e-9:
                problems.append(f"{where}: the claim says {claim.value}, the table shows {cell!r}")
            quoted = f"{abs(claim.value):.{decimals}f}"
            if text is not None and quoted not in text.replace("−", "-"):
                problems.append(f"{where}: the text does not quote the table's value {quoted}")
        problem = _relation_problem(claim, table, cell, number)
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def _relation_problem(claim: Claim, table: dict, cell: str, number: float) -> str | None:
    relation = claim.relation
    if relation is None:
        return None
    if relation == "beyond_noise":
        return None if "*" in cell else f"claimed beyond seed noise, but the cell {cell!r} has no '*'"
    if relation == "within_noise":
        return None if "*" not in cell else f"claimed within seed noise, but the cell {cell!r} has a '*'"
    if relation == "positive":
        return None if number > 0 else f"claimed positive, the cell is {cell!r}"
    if relation == "negative":
        return None if number < 0 else f"claimed negative, the cell is {cell!r}"
    if relation in ("max", "min"):
        rows = claim.among or list(table)
        values = {r: cell_number(table[r][claim.column])[0] for r in rows}
        best = (max if relation == "max" else min)(values.values())
        return None if number == best else f"claimed the {relation} of {rows}, but the values are {values}"
    row, column = claim.other or claim.row, claim.other_column or claim.column
    other, _ = cell_number(table[row][column])
    holds = {"gt": number > other, "lt": number < other, "ge": number >= other, "le": number <= other}[relation]
    return None if holds else f"claimed {number} {relation} {other} (row {row!r}, column {column!r}), which is false"


def notebook_findings(node) -> tuple[dict[str, str], list[dict]]:
    """From an executed notebook (an ``nbformat`` node): ``({table name: Markdown}, [verdict metadata])`` of every
    output :func:`show` displayed."""
    tables, verdicts = {}, []
    for cell in node.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get(METADATA_KEY)
            if not meta:
                continue
            if meta["kind"] == "table":
                tables[meta["name"]] = output["data"]["text/markdown"]
            else:
                verdicts.append({**meta, "text": output["data"]["text/markdown"]})
    return tables, verdicts


def check_notebook(node) -> list[str]:
    """Every problem (:func:`check_claims`) of every verdict of an executed notebook; ``[]`` when all hold."""
    tables, verdicts = notebook_findings(node)
    problems = []
    for verdict in verdicts:
        problems += check_claims(tables, verdict)
    return problems


# -- formatting helpers the verdict builders share -----------------------------------------------------------------
def signed(x: float, decimals: int = 1) -> str:
    """``+3.4`` / ``-0.1`` / ``+0.0`` (no ``-0.0``)."""
    value = round(x, decimals) + 0.0
    return f"{value:+.{decimals}f}"

