"""Go's ``text/tabwriter`` as kubectl configures it, for byte-identical tables.

kubectl's printers use ``tabwriter.NewWriter(out, 6, 4, 3, ' ', RememberWidths)``
(``k8s.io/cli-runtime/pkg/printers/tabwriter.go``): minimum cell width 6, padding 3, padded
with spaces. A cell is text terminated by a tab; the text after a line's last tab is not part
of any column. A *column block* is a run of consecutive lines that all have a cell in that
column, and every cell of the block is padded to the block's widest cell plus the padding.
kubectl ends every cell with a tab, so each printed cell, the last one included, is padded
(``kubectl top`` lines end in spaces).
"""

from __future__ import annotations

MIN_WIDTH = 6
PADDING = 3


class _Formatter:
    """One flush of Go's tabwriter over already split lines (``Writer.format``)."""

    def __init__(self, lines: list[list[str]], min_width: int, padding: int) -> None:
        self.lines = lines
        self.min_width = min_width
        self.padding = padding
        self.widths: list[int] = []
        self.out: list[str] = []

    def format(self, line0: int, line1: int) -> None:
        column = len(self.widths)
        this = line0
        while this < line1:
            if column >= len(self.lines[this]) - 1:
                this += 1
                continue
            # A cell exists in this column: a column block starts here.
            self.write_lines(line0, this)
            line0 = this
            width = self.min_width
            while this < line1 and column < len(self.lines[this]) - 1:
                width = max(width, len(self.lines[this][column]) + self.padding)
                this += 1
            self.widths.append(width)
            self.format(line0, this)
            self.widths.pop()
            line0 = this
        self.write_lines(line0, line1)

    def write_lines(self, line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(self.lines[i]):
                self.out.append(cell)
                if j < len(self.widths):
                    self.out.append(" " * (self.widths[j] - len(cell)))
            if i + 1 < len(self.lines):
                self.out.append("\n")


def tabwrite(text: str, *, min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """``text`` (tab-terminated cells, newline-terminated lines) laid out as Go's tabwriter
    with kubectl's settings would write it in one flush."""
    lines = [line.split("\t") for line in text.split("\n")]
    f = _Formatter(lines, min_width, padding)
    f.format(0, len(lines))
    return "".join(f.out)
