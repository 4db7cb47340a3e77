"""The site's command-line page is generated from the parser (hooks/cli_reference.py), so it
cannot drift from the command: every subcommand the parser has appears with its own help."""

import importlib.util
from pathlib import Path

from tinygrad_edu.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def load_hook():
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "hooks" / "cli_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_page_has_a_section_with_the_help_of_every_subcommand():
    hook = load_hook()
    page = hook.cli_reference_markdown()
    parser = build_parser()
    names = [action.dest for action in parser._subparsers._group_actions[0]._choices_actions]
    assert len(names) >= 6  # demo, train, check, worked-example, graph, evaluate at least
    for name in names:
        assert f"\n## tinygrad-edu {name}\n" in page
        assert f"usage: tinygrad-edu {name} " in page
    for option in ("--batch-size", "--rule", "--plot", "--backward", "--split-seed"):
        assert option in page


def test_cli_page_lists_the_options_of_each_subcommand_under_its_heading():
    hook = load_hook()
    sections = hook.cli_reference_markdown().split("\n## ")
    by_name = {section.split("\n", 1)[0]: section for section in sections}
    for name, (_, command) in hook.subcommands(build_parser()).items():
        section = by_name[f"tinygrad-edu {name}"]
        for action in command._actions:
            for flag in action.option_strings:
                assert flag in section, f"{flag} of {name} is missing from its section"


def test_the_hook_fills_the_marker_of_the_cli_page_only():
    hook = load_hook()

    class File:
        def __init__(self, src_uri):
            self.src_uri = src_uri

    class Page:
        def __init__(self, src_uri):
            self.file = File(src_uri)

    text = f"# Command line\n\n{hook.MARKER}\n"
    filled = hook.on_page_markdown(text, Page("reference/cli.md"), None, None)
    assert hook.MARKER not in filled and "## tinygrad-edu train" in filled
    assert hook.on_page_markdown(text, Page("index.md"), None, None) == text
    page_text = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert hook.MARKER in page_text
