"""The report's content as a few frozen blocks, each rendering itself to HTML and to Markdown.

The builder decides *what* the report says; these blocks decide only how it looks, so the HTML
page and ``report.md`` can never disagree. Inline text may use ```code``` and ``**bold**``.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def inline_html(text: str) -> str:
    """Escape ``text`` for HTML, then turn ```code``` and ``**bold**`` into tags.

    Examples
    --------
    >>> inline_html("slope of `a<b` is **small**")
    'slope of <code>a&lt;b</code> is <strong>small</strong>'
    """
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))
    return _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", out)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


@dataclass(frozen=True)
class Para:
    """A paragraph of prose."""

    text: str

    def html(self) -> str:
        """The block as HTML."""
        return f"<p>{inline_html(self.text)}</p>"

    def md(self) -> str:
        """The block as Markdown."""
        return self.text


@dataclass(frozen=True)
class Note:
    """A highlighted remark: ``info`` (grey), ``warn`` (amber) or ``verdict`` (green)."""

    text: str
    kind: str = "info"

    def html(self) -> str:
        """The block as HTML."""
        return f'<p class="note {self.kind}">{inline_html(self.text)}</p>'

    def md(self) -> str:
        """The block as Markdown."""
        return f"> {self.text}"


@dataclass(frozen=True)
class Bullets:
    """An unordered list."""

    items: tuple[str, ...]

    def html(self) -> str:
        """The block as HTML."""
        return "<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in self.items) + "</ul>"

    def md(self) -> str:
        """The block as Markdown."""
        return "\n".join(f"- {i}" for i in self.items)


@dataclass(frozen=True)
class Heading:
    """A sub-heading inside a section."""

    text: str

    def html(self) -> str:
        """The block as HTML."""
        return f"<h3>{inline_html(self.text)}</h3>"

    def md(self) -> str:
        """The block as Markdown."""
        return f"### {self.text}"


@dataclass(frozen=True)
class Table:
    """A table; the first column is a label (left-aligned, in code font when ``code_labels``)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    code_labels: bool = True
    strong_rows: tuple[int, ...] = ()  # rows to emphasise, e.g. the effect term

    def html(self) -> str:
        """The block as HTML."""
        head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in self.header)
        body = "".join(self._row_html(i, r) for i, r in enumerate(self.rows))
        cap = f"<caption>{inline_html(self.caption)}</caption>" if self.caption else ""
        return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'

    def _row_html(self, i: int, row: tuple[str, ...]) -> str:
        label = f"<code>{html.escape(row[0])}</code>" if self.code_labels else html.escape(row[0])
        cells = "".join(f'<td class="num">{html.escape(c)}</td>' for c in row[1:])
        cls = ' class="strong"' if i in self.strong_rows else ""
        return f'<tr{cls}><th scope="row">{label}</th>{cells}</tr>'

    def md(self) -> str:
        """The block as Markdown."""
        lines = [f"*{self.caption}*", ""] if self.caption else []
        lines.append("| " + " | ".join(_md_cell(h) for h in self.header) + " |")
        lines.append("|---|" + "---:|" * (len(self.header) - 1))
        for i, r in enumerate(self.rows):
            label = f"`{r[0]}`" if self.code_labels else _md_cell(r[0])
            if i in self.strong_rows:
                label = f"**{label}**"
            lines.append("| " + " | ".join([label, *(_md_cell(c) for c in r[1:])]) + " |")
        return "\n".join(lines)


@dataclass(frozen=True)
class Figure:
    """A figure: embedded as a data URI in the page, written as ``figures/<name>.<fmt>`` beside it.

    ``fmt`` is ``"png"`` for figures of many points (a raster stays small however many there are)
    and ``"svg"`` for the simulation's histograms: a few shapes each, no larger as vectors than as
    pixels and about a quarter cheaper to draw and encode.
    """

    name: str
    data: bytes = field(repr=False)
    caption: str
    alt: str
    fmt: Literal["png", "svg"] = "png"

    @property
    def file_name(self) -> str:
        """The file beside the page: ``<name>.<fmt>``."""
        return f"{self.name}.{self.fmt}"

    def html(self) -> str:
        """The block as HTML."""
        data = base64.b64encode(self.data).decode("ascii")
        mime, cls = ("image/svg+xml", ' class="vector"') if self.fmt == "svg" else ("image/png", "")
        return (f'<figure id="fig-{self.name}"><img{cls} src="data:{mime};base64,{data}" alt="{html.escape(self.alt)}">'
                f"<figcaption>{inline_html(self.caption)}</figcaption></figure>")

    def md(self) -> str:
        """The block as Markdown."""
        return f"![{self.alt}](figures/{self.file_name})\n\n*{self.caption}*"


@dataclass(frozen=True)
class FigureRow:
    """Figures side by side on a wide screen, stacked on a narrow one."""

    figures: tuple[Figure, ...]

    def html(self) -> str:
        """The block as HTML."""
        return '<div class="figure-row">' + "".join(f.html() for f in self.figures) + "</div>"

    def md(self) -> str:
        """The block as Markdown."""
        return "\n\n".join(f.md() for f in self.figures)


Block = Para | Note | Bullets | Heading | Table | Figure | FigureRow


@dataclass(frozen=True)
class Section:
    """A numbered section of the report."""

    id: str
    title: str
    blocks: tuple[Block, ...]

    def html(self) -> str:
        """The section as HTML."""
        inner = "\n".join(b.html() for b in self.blocks)
        return f'<section id="{self.id}">\n<h2>{inline_html(self.title)}</h2>\n{inner}\n</section>'

    def md(self) -> str:
        """The section as Markdown."""
        return f"## {self.title}\n\n" + "\n\n".join(b.md() for b in self.blocks)

    def figures(self) -> list[Figure]:
        """The figures of the section, in order, to write beside the page."""
        out: list[Figure] = []
        for b in self.blocks:
            out += [b] if isinstance(b, Figure) else list(b.figures) if isinstance(b, FigureRow) else []
        return out


def table_of_contents(sections: Sequence[Section]) -> str:
    """The page's navigation list."""
    items = "".join(f'<li><a href="#{s.id}">{inline_html(s.title)}</a></li>' for s in sections)
    return f'<nav aria-label="contents"><ul>{items}</ul></nav>'
