"""Reference formulas (and custom Functions) that many tests use, written once.

Each is the closed form straight from its definition in plain numpy, independent of the
library's own code (so that the two can disagree).
"""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu import Function


def sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ), as both texts define it."""
    return 1 / (1 + np.exp(-x))


def book_demo_network(seed=0):
    """(W_ih, W_ho, x, t) of the book's 3-3-3 network on one sample, as `tinygrad-edu demo`
    and `proofs.book_network_loss(seed)` set it up: weights from N(0, σ = 3^−½) drawn in
    that order, the book's inputs (0.9, 0.1, 0.8) and targets (0.01, 0.99, 0.01)."""
    rng = np.random.default_rng(seed)
    w_ih, w_ho = rng.normal(0, 3**-0.5, (3, 3)), rng.normal(0, 3**-0.5, (3, 3))
    return w_ih, w_ho, np.array([[0.9], [0.1], [0.8]]), np.array([[0.01], [0.99], [0.01]])


class CubeSavingItsSlope(Function):
    """y = x³, whose forward saves the slope 3x² it derived — an array that is neither an
    input nor the output. Right for a first derivative; refused where a recorded backward
    (``create_graph=True``) would treat it as a constant."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(3 * x * x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (slope,) = ctx.saved
        return g * slope


def peak_memory(run):
    """The most memory Python and numpy held at once while ``run()`` ran, in bytes
    (tracemalloc sees numpy's arrays too)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_then_zeros(stream, head: bytes, zeros: int) -> None:
    """Write ``head``, then ``zeros`` zero bytes a MiB at a time (a compressed stream keeps
    a decompression bomb small on disk: 1 MiB of zeros deflates to about 1 KiB)."""
    stream.write(head)
    for _ in range(zeros // (1 << 20)):
        stream.write(bytes(1 << 20))


class Hostile(Function):
    """The identity, named and labelled like markup: a name and a label that a drawing and
    a page must escape (issue 19, item 18)."""

    labels = ("<x>",)

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


Hostile.__name__ = Hostile.__qualname__ = "<!--<script>"


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def headless_chromium():
    """The system's Chromium, headless, driven by Selenium offline; the test is skipped
    (with the reason) when Selenium or the Debian packages are missing."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            pytest.skip(f"{program} is missing (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never download anything
        return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
