"""The report's content: sections of paragraphs, tables and figures, independent of how they are rendered.

The content is written once (``bayes_distill.report.sections``) and rendered twice, to Markdown and to HTML
(``bayes_distill.report.render``). Every value is already text here, so both renderings say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    """A table of text cells: ``headers`` and ``rows`` of the same length; an optional caption above it."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"a row of {len(row)} cells under {len(self.headers)} headers: {row!r}")


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its PNG bytes, or the error that stopped it from being drawn (``png`` is then None).

    ``name`` is the figure's function in ``bayes_distill.plots`` and its PNG file's stem.
    """

    name: str
    title: str
    caption: str
    png: bytes | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.png is None

    @property
    def filename(self) -> str:
        return f"{self.name}.png"

    @property
    def failure_note(self) -> str:
        """The visible note a report shows in place of a figure that failed to draw."""
        return f"figure {self.name} failed: {self.error}"


@dataclass(frozen=True)
class Section:
    """One section of the report: its title, then paragraphs, notes (warnings), tables and figures, in that order."""

    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Report:
    """The whole report: a title, a header table (what was reported, when) and the sections."""

    title: str
    header: Table
    sections: tuple[Section, ...]

    @property
    def figures(self) -> tuple[Figure, ...]:
        return tuple(f for s in self.sections for f in s.figures)
