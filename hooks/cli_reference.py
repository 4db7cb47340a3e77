"""mkdocs hook: the CLI reference page is written from the parser itself, at build time.

``docs/reference/cli.md`` holds the marker ``<!-- cli-reference -->``; this hook replaces
it with the ``--help`` text of ``tinygrad-edu`` and of each of its subcommands, taken from
`tinygrad_edu.cli.build_parser`, so the page cannot drift from the command. A page that
loses its marker fails the build instead of silently showing nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- cli-reference -->"
WIDTH = 78
"""Help text is wrapped at this width whatever the terminal (the build is reproducible)."""


def _fixed_width(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """The parser's subcommands by name, in the order ``--help`` lists them, each with its
    one-line help and its own parser."""
    found: dict[str, tuple[str, argparse.ArgumentParser]] = {}
    for action in parser._actions:  # argparse keeps its subparsers here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, command in action.choices.items():
                found[name] = (helps.get(name, ""), command)
    return found


def cli_reference_markdown() -> str:
    """The Markdown that replaces the marker: the main help, then one section per command."""
    from tinygrad_edu.cli import build_parser

    parser = _fixed_width(build_parser())
    sections = [
        "## tinygrad-edu",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    for name, (summary, command) in subcommands(parser).items():
        sections += [
            "",
            f"## tinygrad-edu {name}",
            "",
            f"{summary[:1].upper()}{summary[1:]}.",
            "",
            "```text",
            _fixed_width(command).format_help().rstrip(),
            "```",
        ]
    return "\n".join(sections)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != "reference/cli.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"reference/cli.md lost its marker {MARKER}: nothing to fill in")
    return markdown.replace(MARKER, cli_reference_markdown())
