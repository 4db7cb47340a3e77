"""The site's own stylesheet (docs/stylesheets/extra.css) and theme settings, for what a learner
met on a phone and on a desktop: code output that wrapped a table into nonsense, a notebook
narrowed by the download button, a drawing that squeezed Start here's text into a sliver,
and fonts fetched from another site. The page below rebuilds the few elements involved, with
the rules the theme and mkdocs-jupyter give them, and the stylesheet on top; headless
Chromium lays it out at 390 and 1280 pixels."""

import re
from pathlib import Path

import pytest
from references import headless_chromium

ROOT = Path(__file__).resolve().parent.parent
STYLESHEET = ROOT / "docs" / "stylesheets" / "extra.css"

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ margin: 0; }}
.md-content__inner {{ margin: 0 16px; }}
.md-content__button {{ float: right; width: 32px; height: 32px; }}
/* as mkdocs-jupyter's stylesheet has them */
.jupyter-wrapper .jp-Notebook {{ padding: 10px; overflow: auto; }}
.jupyter-wrapper .jp-Cell {{ padding: 5px; }}
.jupyter-wrapper .jp-RenderedText pre {{ white-space: pre-wrap; line-height: 16px; }}
</style>
<style>{css}</style></head>
<body><div class="md-content"><article class="md-content__inner md-typeset">
<a class="md-content__button">download</a>
<h1>a page</h1>
<img align="right" width="300" height="200" alt="a drawing">
<h2 id="beside">Who it is for</h2><p>Text beside the drawing.</p>
<div class="jupyter-wrapper"><div class="jp-Notebook"><div class="jp-Cell">
<div class="jp-RenderedText"><pre>{row}</pre></div>
<iframe style="width:100%;height:100px;border:1px solid #ccc"></iframe>
</div></div></div>
</article></div></body></html>
"""

LAYOUT = """
const box = (s) => document.querySelector(s).getBoundingClientRect();
const pre = document.querySelector("pre");
return {
  article: box("article").width, notebook: box(".jp-Notebook").width,
  frame_right: box("iframe").right, article_right: box("article").right,
  pre_lines: Math.round(pre.clientHeight / parseFloat(getComputedStyle(pre).lineHeight)),
  pre_scrolls: pre.scrollWidth > pre.clientWidth,
  image_float: getComputedStyle(document.querySelector("img")).float,
};
"""


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    driver.quit()


def layout(driver, tmp_path, width):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    row = "  Sigmoid  ·σ(1−σ)  · oₖ(1 − oₖ) (sigmoid slope, oₖ = 0.9089)  " * 5  # one long line
    page = tmp_path / f"page{width}.html"
    page.write_text(PAGE.format(css=STYLESHEET.read_text(encoding="utf-8"), row=row), "utf-8")
    driver.get(page.as_uri())
    return driver.execute_script(LAYOUT)


@pytest.mark.parametrize("width", [390, 1280])
def test_printed_output_keeps_its_lines_and_scrolls_sideways(browser, tmp_path, width):
    shown = layout(browser, tmp_path, width)
    assert shown["pre_lines"] == 1 and shown["pre_scrolls"]


@pytest.mark.parametrize("width", [390, 1280])
def test_the_notebook_is_as_wide_as_the_page_and_its_frames_fit(browser, tmp_path, width):
    shown = layout(browser, tmp_path, width)
    assert shown["notebook"] == pytest.approx(shown["article"], abs=1)
    assert shown["frame_right"] <= shown["article_right"] + 0.5


def test_a_drawing_floats_beside_the_text_on_a_desktop_only(browser, tmp_path):
    assert layout(browser, tmp_path, 1280)["image_float"] == "right"
    assert layout(browser, tmp_path, 390)["image_float"] == "none"


def test_the_site_fetches_no_fonts_from_another_site():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    theme = config[config.index("theme:") : config.index("\n\n", config.index("theme:"))]
    assert re.search(r"^  font: false\b", theme, re.MULTILINE)
