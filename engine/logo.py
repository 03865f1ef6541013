"""The partner's logo: checked when the workspace loads, since every report embeds it."""

from __future__ import annotations

from pathlib import Path

from tallyclerk.errors import ConfigError

LOGO_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
LOGO_MAX_BYTES = 2_000_000
# What each kind of logo file starts with; an SVG is text whose first element is <svg.
_LOGO_KINDS = {".png": "PNG", ".svg": "SVG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_LOGO_SIGNATURES = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}


def check_logo(logo: str, *, folder: Path, path: Path) -> None:
    """`branding.logo` must name a file that exists, is the image its name says, and is
    small enough to embed; `path` is the workspace file, for the message."""
    file = folder / logo
    if file.suffix.lower() not in LOGO_SUFFIXES:
        raise ConfigError(
            f"{path}: branding.logo: {logo!r} is not a PNG, SVG or JPEG file; "
            f"use a file ending in one of: {', '.join(LOGO_SUFFIXES)}."
        )
    if not file.is_file():
        raise ConfigError(
            f"{path}: branding.logo: no file {file}; give a path relative to the workspace folder."
        )
    if file.stat().st_size > LOGO_MAX_BYTES:
        raise ConfigError(
            f"{path}: branding.logo: {file} has {file.stat().st_size:,} bytes; every report "
            f"embeds it, so use a file under {LOGO_MAX_BYTES:,} bytes."
        )
    named = _LOGO_KINDS[file.suffix.lower()]
    with file.open("rb") as handle:
        found = _image_kind(handle.read(4096))
    if found is None:
        raise ConfigError(
            f"{path}: branding.logo: {file} is named {file.suffix} but its content is not "
            f"{named} (its first bytes are not an image's); put the real logo there, or point "
            "branding.logo at a PNG, SVG or JPEG file."
        )
    if found != named:
        suffix = next(s for s, kind in _LOGO_KINDS.items() if kind == found)
        raise ConfigError(
            f"{path}: branding.logo: {file} is named {file.suffix} but holds a {found} image; "
            f"rename it to end in {suffix} and update branding.logo."
        )


def _image_kind(head: bytes) -> str | None:
    """PNG, JPEG or SVG from a file's first bytes; None for anything else."""
    for kind, signature in _LOGO_SIGNATURES.items():
        if head.startswith(signature):
            return kind
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="ignore").lstrip()
    return "SVG" if text.startswith("<") and "<svg" in text else None
