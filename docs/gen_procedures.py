"""Regenerate the table of procedures in docs/procedures.md from the registry.

    python docs/gen_procedures.py          # rewrite the table in place
    python docs/gen_procedures.py --check  # exit 1 if the committed table is stale

The table lies between the BEGIN/END markers; everything else in the page is hand-written.
tests/test_guarantees.py fails when the committed table differs from the generated one.
"""
from __future__ import annotations

import sys
from pathlib import Path

import mtest

PAGE = Path(__file__).with_name("procedures.md")
BEGIN = "<!-- BEGIN GENERATED: python docs/gen_procedures.py -->\n"
END = "<!-- END GENERATED -->\n"


def render(text: str) -> str:
    """``text`` with the generated table between the markers replaced by the registry's."""
    head, sep, rest = text.partition(BEGIN)
    if not sep or END not in rest:
        raise ValueError(f"{PAGE.name} lacks the markers {BEGIN.strip()!r} ... {END.strip()!r}")
    tail = rest.partition(END)[2]
    return head + BEGIN + mtest.registry.procedures_table() + END + tail


def main(argv: list[str]) -> int:
    text = PAGE.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in argv:
        if new != text:
            print(f"{PAGE} is stale: run python docs/gen_procedures.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
