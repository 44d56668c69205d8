"""Verdicts are held to the tables the learner sees: every claim is checked against the displayed Markdown."""

import nbformat
import pytest

from crossclr_lab.lab.findings import (
    Claim,
    Table,
    Verdict,
    cell_number,
    check_claims,
    check_notebook,
    notebook_findings,
    parse_markdown_table,
    show,
    signed,
)

TABLE = Table("t", ["variant", "R@1", "MedR"], [["a", "3.0 ± 1.5", "67.3"], ["b", "+3.4 ± 0.6 *", "-33.3 ± 6.8 *"],
                                                ["c", "-0.1 ± 0.6", "12"]], note="a note")


def test_parse_and_numbers():
    parsed = parse_markdown_table("text before\n\n" + TABLE.markdown())
    assert parsed["b"] == {"R@1": "+3.4 ± 0.6 *", "MedR": "-33.3 ± 6.8 *"}
    assert cell_number("+3.4 ± 0.6 *") == (3.4, 1) and cell_number("−0.12") == (-0.12, 2)
    assert cell_number("12") == (12.0, 0)
    with pytest.raises(ValueError, match="no number"):
        cell_number("–")
    with pytest.raises(ValueError, match="no Markdown table"):
        parse_markdown_table("no table here")
    assert signed(-0.04) == "+0.0" and signed(3.44) == "+3.4"


@pytest.mark.parametrize("claim, holds", [
    (Claim("t", "b", "R@1", 3.4, "beyond_noise"), True),
    (Claim("t", "c", "R@1", -0.1, "within_noise"), True),
    (Claim("t", "c", "R@1", -0.1, "beyond_noise"), False),
    (Claim("t", "b", "R@1", 3.4, "within_noise"), False),
    (Claim("t", "b", "R@1", 3.5), False),                        # the text quotes another number than the cell
    (Claim("t", "b", "MedR", -33.3, "negative"), True),
    (Claim("t", "b", "MedR", -33.3, "positive"), False),
    (Claim("t", "b", "R@1", None, "max"), True),
    (Claim("t", "a", "R@1", None, "max"), False),
    (Claim("t", "b", "MedR", None, "min", among=["b", "c"]), True),
    (Claim("t", "a", "R@1", None, "lt", other="b"), True),
    (Claim("t", "a", "R@1", None, "gt", other="b"), False),
    (Claim("t", "a", "Nope", 1.0), False),                       # a column the table does not have
    (Claim("missing", "a", "R@1", 1.0), False),                  # a table that was never displayed
])
def test_each_claim_is_checked_against_the_displayed_table(claim, holds):
    verdict = Verdict("v", "quotes 3.4, 3.5, 0.1, 33.3 and 1.0", [claim])
    problems = check_claims({"t": TABLE.markdown()}, verdict)
    assert (problems == []) is holds, problems


def test_the_text_must_quote_each_claimed_value():
    claim = Claim("t", "b", "R@1", 3.4)
    assert check_claims({"t": TABLE.markdown()}, Verdict("v", "gains +3.4", [claim])) == []
    problems = check_claims({"t": TABLE.markdown()}, Verdict("v", "gains a lot", [claim]))
    assert problems and "does not quote" in problems[0]


def test_bad_claims_and_tables_are_refused():
    with pytest.raises(ValueError, match="relation"):
        Claim("t", "a", "R@1", relation="bigger")
    with pytest.raises(ValueError, match="other="):
        Claim("t", "a", "R@1", relation="gt")
    with pytest.raises(ValueError, match="cells"):
        Table("x", ["a", "b"], [["1"]])


def test_shown_outputs_round_trip_through_a_notebook(capsys):
    """show() tags outputs so notebook_findings/check_notebook can read them back from an executed notebook."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    outputs = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: outputs.append((data, metadata))
    try:
        show(TABLE)
        show(Verdict("good", "b gains 3.4", [Claim("t", "b", "R@1", 3.4, "beyond_noise")]))
        show(Verdict("bad", "a is best with 3.0", [Claim("t", "a", "R@1", 3.0, "max")]))
        with pytest.raises(ValueError, match="name="):
            show("| a |\n|---|")
    finally:
        InteractiveShell.clear_instance()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data=d, metadata=m) for d, m in outputs]
    node = nbformat.v4.new_notebook(cells=[cell])
    tables, verdicts = notebook_findings(node)
    assert list(tables) == ["t"] and [v["name"] for v in verdicts] == ["good", "bad"]
    problems = check_notebook(node)
    assert len(problems) == 1 and "'bad'" in problems[0]
