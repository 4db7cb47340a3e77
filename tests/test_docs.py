"""The documentation cannot drift: every ```python block of README.md and docs/**/*.md runs,
in order, one namespace per page, and what it prints is compared with the ```text block that
follows it. Every example script runs too.

The rule (BRIEF, "Docs that cannot drift"): a block that prints must be followed at once (one
blank line allowed) by a ```text block holding exactly what it prints — compared after
stripping trailing whitespace on each line and trailing blank lines. A block that prints
nothing has no output block. A ```text block whose preceding block is a ```python block is
that block's output, so it must follow it at once; commands and their output use ```console
or ```bash, which are not run.
"""

import ast
import contextlib
import io
import re
import runpy
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    language: str  # the fence's info string: "python", "text", "console", ""
    code: str
    line: int  # 1-based line of the opening fence
    blank_lines_before: int  # blank lines between the previous block's closing fence and this
    follows_block: bool  # nothing but blank lines since the previous block's closing fence


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    found: list[Block] = []
    lines = text.splitlines()
    gap: list[str] | None = None  # the lines since the last closing fence (None: no block yet)
    number = 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            if gap is not None:
                gap.append(lines[number])
            number += 1
            continue
        ticks, language = opening.groups()
        end = number + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        between = gap if gap is not None else ["not a block"]
        found.append(
            Block(
                language=language.lower(),
                code="\n".join(lines[number + 1 : end]) + "\n",
                line=number + 1,
                blank_lines_before=len(between),
                follows_block=all(not line.strip() for line in between),
            )
        )
        gap = []
        number = end + 1
    return found


def normalised(output: str) -> str:
    """Trailing whitespace of each line and trailing blank lines removed."""
    return "\n".join(line.rstrip() for line in output.splitlines()).rstrip("\n")


class DocsDriftError(AssertionError):
    """A page's example does not run, or does not print what the page shows."""


def run_page(page: Path) -> None:
    """Runs the page's python blocks and raises DocsDriftError at the first that breaks the
    rule, with the expected and the actual output."""
    name = page.relative_to(ROOT).as_posix()
    found = blocks(page.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__main__"}
    for position, block in enumerate(found):
        after = found[position + 1] if position + 1 < len(found) else None
        output_block = (
            after
            if after is not None
            and after.language == "text"
            and after.follows_block
            and after.blank_lines_before <= 1
            else None
        )
        if block.language == "text" and position > 0 and found[position - 1].language == "python":
            previous = found[position - 1]
            if not (block.follows_block and block.blank_lines_before <= 1):
                raise DocsDriftError(
                    f"{name}:{block.line}: a ```text block after the ```python block of line "
                    f"{previous.line} must follow it at once (one blank line allowed) as its "
                    "output; show a command and its output in a ```console block"
                )
        if block.language != "python":
            continue
        where = f"{name}:{block.line}"
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block.code, where, "exec"), namespace)
        except Exception as error:  # the message is the point
            message = f"{where}: the python block fails: {error!r}\n{block.code}"
            raise DocsDriftError(message) from error
        actual = normalised(printed.getvalue())
        if output_block is None:
            if actual:
                raise DocsDriftError(
                    f"{where}: the block prints, but no ```text block follows it.\n"
                    f"--- it prints:\n{actual}"
                )
            continue
        expected = normalised(output_block.code)
        if not actual:
            raise DocsDriftError(
                f"{where}: the block prints nothing, but the ```text block of line "
                f"{output_block.line} follows it as its output.\n--- shown:\n{expected}"
            )
        if actual != expected:
            raise DocsDriftError(
                f"{where}: the printed output differs from the ```text block of line "
                f"{output_block.line}.\n--- shown (expected):\n{expected}\n"
                f"--- printed (actual):\n{actual}"
            )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_blocks_of_the_page_run_and_print_what_the_page_shows(page, monkeypatch):
    monkeypatch.chdir(ROOT)  # as a reader runs them, from the repository root
    try:
        run_page(page)
        drift = ""
    except DocsDriftError as error:
        drift = str(error)
    if drift:
        pytest.fail(drift, pytrace=False)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_script_runs(script, capsys):
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out  # every example prints what it shows


# --------------------------------------------------------------------------- the rule itself


def page_of(tmp_path, text: str) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    page = tmp_path / "docs" / "page.md"
    page.write_text(text, encoding="utf-8")
    return page


@pytest.fixture
def rooted(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("```python\nprint('hello')\n```\n\nSome prose.\n", "no ```text block follows"),
        ("```python\nx = 1\n```\n```text\n1\n```\n", "prints nothing"),
        # two blank lines: the text block is no longer this block's output
        ("```python\nprint(1)\n```\n\n\n```text\n1\n```\n", "no ```text block follows"),
        (
            "```python\nx = 1\n```\n\nProse.\n\n```text\nnot output\n```\n",
            "must follow it at once",
        ),
    ],
    ids=["printing-without-output", "output-of-a-silent-block", "too-far", "after-prose"],
)
def test_a_page_whose_shown_output_cannot_be_its_output_fails(rooted, text, problem):
    with pytest.raises(DocsDriftError, match=problem):
        run_page(page_of(rooted, text))


def test_output_that_differs_fails_and_shows_both(rooted):
    page = page_of(rooted, "```python\nprint(1 + 1)\n```\n\n```text\n3\n```\n")
    with pytest.raises(DocsDriftError) as failure:
        run_page(page)
    assert "--- shown (expected):\n3\n--- printed (actual):\n2" in str(failure.value)


def test_matching_output_passes_after_stripping_trailing_whitespace(rooted):
    page = page_of(
        rooted,
        "```python\nprint('a  ')\nprint()\n```\n\n```text\na\n\n```\n\n"
        "Prose.\n\n```console\n$ tinygrad-edu demo\n```\n\n```text\nfree text\n```\n",
    )
    run_page(page)


def test_blocks_share_one_namespace_per_page(rooted):
    page = page_of(
        rooted, "```python\nx = 41\n```\n\n```python\nprint(x + 1)\n```\n```text\n42\n```\n"
    )
    run_page(page)


# --------------------------------------------------------------------------- the errata page


def defined_tests(prefix: str = "test_") -> set[str]:
    """The names of the test functions in tests/ (read from the source, nothing imported)."""
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith(prefix):
                names.add(node.name)
    return names


def test_the_errata_summary_lists_exactly_the_tests_that_dash_k_erratum_selects():
    text = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")
    summary = text[text.index("## Summary") : text.index("## What the texts get right")]
    listed = set(re.findall(r"`(test_\w+)`", summary))
    assert listed == defined_tests("test_erratum_")
    assert "-k erratum" in text
    mentioned = set(re.findall(r"`(test_\w+)`", text))
    assert mentioned <= defined_tests(), mentioned - defined_tests()


# --------------------------------------------------------------------------- command excerpts

QUICK_COMMANDS = ("demo", "check", "worked-example")
"""Commands that run in well under a second, so their excerpts in the docs are checked."""


def command_excerpts() -> list[tuple[str, Block]]:
    """(page, block) for every ```console block that starts with one quick tinygrad-edu command."""
    found = []
    for page in PAGES:
        for block in blocks(page.read_text(encoding="utf-8")):
            first = block.code.splitlines()[0] if block.code.strip() else ""
            words = first.split()
            if (
                block.language == "console"
                and words[:2] == ["$", "tinygrad-edu"]
                and len(words) > 2
                and words[2] in QUICK_COMMANDS
                and sum(line.startswith("$ ") for line in block.code.splitlines()) == 1
            ):
                found.append((page.relative_to(ROOT).as_posix(), block))
    return found


@pytest.mark.parametrize(
    ("page", "block"), command_excerpts(), ids=lambda v: v if isinstance(v, str) else v.line
)
def test_a_command_excerpt_shows_lines_the_command_prints_in_that_order(page, block, capsys):
    from tinygrad_edu.cli import main

    command, *shown = block.code.splitlines()
    assert main(command.split()[2:]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    position = 0
    for line in (line.rstrip() for line in shown if line.strip()):
        try:
            position = printed.index(line, position) + 1
        except ValueError:
            pytest.fail(
                f"{page}:{block.line}: `{command[2:]}` does not print this line (after the ones "
                f"before it):\n{line}\n--- it prints:\n" + "\n".join(printed),
                pytrace=False,
            )


def test_every_erratum_of_the_page_has_the_one_line_summary_the_cli_prints():
    from tinygrad_edu import textbook

    text = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (E\d+):", text, re.MULTILINE)
    assert headings == list(textbook.ERRATA)


# --------------------------------------------------------------------------- what the pages say

CHAPTERS = sorted((ROOT / "docs" / "tutorial").glob("[0-9][0-9]_*.py"))
SOLUTIONS = sorted((ROOT / "docs" / "tutorial" / "solutions").glob("*.py"))
OWNED_ELSEWHERE: set[str] = set()
"""Pages whose text other work owns; they are checked when that work lands."""

UNDERSCORE_SUBSCRIPT = re.compile(
    r"(?<![A-Za-z0-9_])(?:Σ|ΔW|∂W|Δw|[oOtTeEwWhxgS])_(?:jk|ij|ik|mk|j1|ho|ih|[jkinm])"
    r"(?![A-Za-z0-9_\[]|\.[A-Za-z_])"
)
"""A formula's subscript written with an underscore (o_j, w_jk, W_hoᵀ): the site shows the
underscore, so formulas write oⱼ, wⱼₖ, Wₕₒᵀ; code keeps its names (`W_ho`, `W_ho[k, j]`)."""


def prose_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, text) of a page's prose or a chapter's markdown, code spans removed."""
    text = page.read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    if page.suffix == ".md":
        fence = None
        for number, line in enumerate(text.splitlines(), 1):
            opening = FENCE.match(line.strip())
            if opening and (fence is None or line.strip() == fence):
                fence = opening.group(1) if fence is None else None
                continue
            if fence is None:
                found.append((number, line))
    else:
        markdown = False
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("# %%"):
                markdown = "[markdown]" in line
            elif markdown and line.startswith("#"):
                found.append((number, line[1:]))
    return [(number, re.sub(r"`[^`]*`", "", line)) for number, line in found]


def _cli_output(*argv: str) -> str:
    from tinygrad_edu.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(list(argv)) == 0
    return printed.getvalue()


def test_formulas_write_their_subscripts_as_subscripts():
    places = [p for p in PAGES if p.relative_to(ROOT).as_posix() not in OWNED_ELSEWHERE]
    found = [
        f"{page.relative_to(ROOT)}:{number}: {match}"
        for page in places + CHAPTERS
        for number, line in prose_lines(page)
        for match in UNDERSCORE_SUBSCRIPT.findall(line)
    ]
    for command in ("demo", "check", "worked-example"):
        found += [
            f"tinygrad-edu {command}: {m}"
            for m in UNDERSCORE_SUBSCRIPT.findall(_cli_output(command))
        ]
    assert not found, "\n".join(found)


def test_the_sources_are_named_as_the_book_and_python_course_eu_never_by_a_file():
    from tinygrad_edu import textbook

    texts = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in [*PAGES, *CHAPTERS, *SOLUTIONS]
    }
    texts |= {f"tinygrad-edu {c}": _cli_output(c) for c in ("check", "worked-example")}
    texts["textbook.BOOK, textbook.COURSE"] = textbook.BOOK + textbook.COURSE
    wrong = re.compile(r"\btexts? 00[01]\b|/work/|shared/textbook|\b00[01]_[0-9a-f]{8}", re.I)
    found = [
        f"{name}: {m.group(0)!r}" for name, text in texts.items() for m in wrong.finditer(text)
    ]
    assert not found, "\n".join(found)
    start_here = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    sources = start_here[start_here.index("## The two sources") :]
    sources = " ".join(sources[: sources.index("\n## ")].split())
    assert "reader's study notes on its pages 80–100" in sources
    assert '"Backpropagation in Neural Networks"' in sources and "python-course.eu" in sources
    assert "What was checked against what" in sources


def test_half_the_squared_error_is_never_called_the_books_loss():
    # The book writes E = Σ(t − o)² and then drops the 2: its formulas are the gradient of
    # ½Σ(t − o)², a loss it never writes down (docs/errata.md, E3).
    from tinygrad_edu import cli, proofs, textbook
    from tinygrad_edu.explore import explore

    texts = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in [*PAGES, *CHAPTERS, *SOLUTIONS]
    }
    for module in (cli, proofs, textbook):
        texts[module.__name__] = Path(module.__file__).read_text(encoding="utf-8")
    texts |= {f"tinygrad-edu {c}": _cli_output(c) for c in ("demo", "worked-example")}
    if shutil.which("dot") is not None:  # the page renders its drawings with Graphviz
        texts["the explorer's page"] = explore(proofs.book_network_loss()).html()
    wrong = re.compile(r"book'?s (?:loss|E)\b(?:[^.\n]{0,12})½|book'?s loss|texts' E = ½", re.I)
    found = [
        f"{name}: {m.group(0)!r}" for name, text in texts.items() for m in wrong.finditer(text)
    ]
    assert not found, "\n".join(found)


def test_notebooks_converted_as_the_tutorial_says_are_ignored_by_git():
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    index = (ROOT / "docs" / "tutorial" / "index.md").read_text(encoding="utf-8")
    converted = re.findall(r"jupyter lab (docs/tutorial/\S+\.ipynb)", index)
    assert converted
    for path in [*converted, "docs/tutorial/.ipynb_checkpoints/x.ipynb"]:
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"git would list {path} as untracked"
