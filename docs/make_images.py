"""Draw the pictures in docs/images/ from the code, so that they never drift from it.

Run from anywhere: python docs/make_images.py [FOLDER] (needs the Graphviz `dot` program);
FOLDER defaults to docs/images.

- book_network_forward.svg: the book's 3-3-3 sigmoid network as tinygrad_edu records it,
  with the data of every tensor;
- book_network_backward.svg: the same graph after loss.backward(), drawn the way the
  gradient flows, each edge labelled with its chain-rule factor, every tensor with its
  gradient (the intermediate ones kept with retain_grad());
- long_chain_max_nodes.svg: a chain of 1,000 sigmoids drawn with max_nodes=9.
"""

import sys
from pathlib import Path

from tinygrad_edu import Tensor, proofs, viz

IMAGES = Path(__file__).resolve().parent / "images"


def long_chain(length: int = 1_000) -> Tensor:
    y = Tensor(0.5, requires_grad=True, name="x")
    for _ in range(length):
        y = y.sigmoid()
    y.name = "y"
    return y


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else IMAGES
    folder.mkdir(exist_ok=True)
    forward = proofs.book_network_loss(seed=0)
    backward = proofs.book_network_loss(seed=0, retain_grad=True)
    backward.backward()
    drawings = {
        "book_network_forward.svg": viz.draw(forward, show_data=True, rankdir="TB"),
        "book_network_backward.svg": viz.draw(backward, backward=True, rankdir="TB"),
        "long_chain_max_nodes.svg": viz.draw(long_chain(), max_nodes=9),
    }
    try:
        for name, drawing in drawings.items():
            print("wrote", viz.save(drawing, folder / name))
    except viz.GraphvizNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
