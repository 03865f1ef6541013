"""Whose name a report carries: the partner's from the workspace, or tallyclerk's own."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from engine.config import BrandingConfig, ColoursConfig
from tallyclerk import __version__

PRODUCT = "tallyclerk"
_MEDIA_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


@dataclass(frozen=True)
class Brand:
    """What the page header and footer show, and the two colours of the page."""

    name: str
    logo_uri: str | None
    primary: str
    accent: str
    footer: str
    # A line naming the product, or None when the partner keeps it off its reports.
    credit: str | None


def brand_for(branding: BrandingConfig | None, root: Path | None) -> Brand:
    """The partner's brand when the workspace sets one; otherwise the product's."""
    if branding is None:
        colours = ColoursConfig()
        return Brand(
            name=PRODUCT,
            logo_uri=None,
            primary=colours.primary,
            accent=colours.accent,
            footer="",
            credit=f"Produced by {PRODUCT} {__version__}",
        )
    logo = None
    if branding.logo is not None:
        logo = logo_data_uri((root or Path.cwd()) / branding.logo)
    return Brand(
        name=branding.partner_name,
        logo_uri=logo,
        primary=branding.colours.primary,
        accent=branding.colours.accent,
        footer=branding.footer,
        credit=f"Powered by {PRODUCT}" if branding.show_tallyclerk else None,
    )


def logo_data_uri(path: Path) -> str:
    """The file as a data URI, so the report needs nothing beside it."""
    media_type = _MEDIA_TYPES[path.suffix.lower()]
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{media_type};base64,{encoded}"
