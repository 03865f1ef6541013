"""Read a rendered report without a browser: text by element id, attributes, visible text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.text: dict[str, list[str]] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._gap()
        ident = dict(attrs).get("id")
        if ident is not None:
            self.attrs[ident] = dict(attrs)
            self.text.setdefault(ident, [])
        if tag not in _VOID:
            self.stack.append((tag, ident))

    def handle_endtag(self, tag: str) -> None:
        self._gap()
        while self.stack:
            opened, _ = self.stack.pop()
            if opened == tag:
                break

    def _gap(self) -> None:
        """Element edges separate words, as a browser's layout mostly does."""
        self.handle_data(" ")

    def handle_data(self, data: str) -> None:
        if {tag for tag, _ in self.stack} & {"script", "style", "title"}:
            return
        self.visible.append(data)
        for _, ident in self.stack:
            if ident is not None:
                self.text[ident].append(data)


class Page:
    def __init__(self, html: str) -> None:
        reader = _Reader()
        reader.feed(html)
        self._text = {ident: _squash("".join(parts)) for ident, parts in reader.text.items()}
        self.attrs = reader.attrs
        self.visible_text = _squash(" ".join(reader.visible))

    def text(self, ident: str) -> str:
        return self._text[ident]

    def ids(self, prefix: str) -> list[str]:
        return [ident for ident in self.attrs if ident.startswith(prefix)]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
