"""White-label reports: the partner's name, logo, colours and footer, and no product name."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import pytest

from engine.actions import derive_actions
from engine.config import load_workspace
from reports.pages import Kind, ReportSetup, render_kind, setup_for
from tallyclerk.errors import ConfigError
from tests.reports.factory import finding, manifest, runs_dir, table
from tests.reports.workspace import write_workspace

BRANDING = """
branding:
  partner_name: Northwind Advisory
  logo: brand/logo.png
  colours: {primary: "#123456", accent: "#abcdef"}
  footer: Northwind Advisory · confidential · +44 20 7946 0000
"""


def png(width: int = 2, height: int = 1) -> bytes:
    """A tiny valid PNG, so the test needs no image file in the repository."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x1f\x4e\x79" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def branded_workspace(root: Path, branding: str = BRANDING) -> Path:
    write_workspace(root, branding)
    (root / "brand").mkdir(exist_ok=True)
    (root / "brand" / "logo.png").write_bytes(png())
    return root


def render_all(setup: ReportSetup) -> dict[Kind, str]:
    rows = [
        finding(
            "item-master-sync", "item_id=7", field="weight_kg", owner_value="1", other_value="2"
        ),
        finding("shipment-posted-to-erp", "shipment_id=S1", problem="missing_in_erp", amount="5"),
    ]
    findings = table(rows)
    actions = derive_actions(findings)
    return {
        kind: render_kind(kind, manifest("2026-11.001"), findings, actions, setup, batch="wms:item")
        for kind in Kind
    }


def test_with_branding_no_report_says_tallyclerk(tmp_path):
    setup = setup_for(load_workspace(branded_workspace(tmp_path)))
    for kind, html in render_all(setup).items():
        assert "tallyclerk" not in html.lower(), kind
        assert "Northwind Advisory" in html, kind
        assert "Northwind Advisory · confidential · +44 20 7946 0000" in html, kind
        assert "--primary: #123456; --accent: #abcdef;" in html, kind


def test_the_logo_is_embedded_as_a_data_uri(tmp_path):
    setup = setup_for(load_workspace(branded_workspace(tmp_path)))
    expected = "data:image/png;base64," + base64.b64encode(png()).decode()
    for html in render_all(setup).values():
        assert f'<img class="logo" src="{expected}" alt="Northwind Advisory">' in html


def test_an_svg_logo_is_embedded_too(tmp_path):
    root = branded_workspace(tmp_path, BRANDING.replace("logo.png", "logo.svg"))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8"/></svg>'
    (root / "brand" / "logo.svg").write_bytes(svg)
    html = render_all(setup_for(load_workspace(root)))[Kind.executive]
    assert "data:image/svg+xml;base64," + base64.b64encode(svg).decode() in html


def test_a_partner_may_allow_the_product_name(tmp_path):
    root = branded_workspace(tmp_path, BRANDING + "  show_tallyclerk: true\n")
    for html in render_all(setup_for(load_workspace(root))).values():
        assert "Powered by tallyclerk" in html


def test_without_branding_the_reports_carry_the_product_name(tmp_path):
    for html in render_all(ReportSetup(runs_dir=runs_dir(tmp_path))).values():
        assert "Produced by tallyclerk 0.1.0" in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("#123456", "red;}</style><script>"), r"branding\.colours\.primary: String should match"),
        (("brand/logo.png", "brand/none.png"), r"branding\.logo: no file .*none\.png"),
        (("brand/logo.png", "brand/logo.gif"), r"branding\.logo: 'brand/logo\.gif' is not a PNG"),
        (("partner_name: Northwind Advisory", "partner_name: ''"), r"branding\.partner_name"),
    ],
)
def test_bad_branding_fails_when_the_workspace_loads(tmp_path, change, message):
    root = branded_workspace(tmp_path, BRANDING.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_workspace(root)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "fake.png",
            b"hello",
            "branding.logo: {file} is named .png but its content is not PNG (its first bytes "
            "are not an image's); put the real logo there, or point branding.logo at a PNG, "
            "SVG or JPEG file.",
        ),
        (
            "fake.svg",
            b"<html><body>not a logo</body></html>",
            "branding.logo: {file} is named .svg but its content is not SVG (its first bytes "
            "are not an image's); put the real logo there, or point branding.logo at a PNG, "
            "SVG or JPEG file.",
        ),
        (
            "photo.jpg",
            png(),
            "branding.logo: {file} is named .jpg but holds a PNG image; rename it to end in "
            ".png and update branding.logo.",
        ),
    ],
    ids=["text-named-png", "html-named-svg", "png-named-jpg"],
)
def test_a_logo_that_is_not_the_image_it_claims_fails_when_the_workspace_loads(
    tmp_path, name, content, message
):
    root = branded_workspace(tmp_path, BRANDING.replace("logo.png", name))
    file = root / "brand" / name
    file.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_workspace(root)
    assert str(caught.value) == f"{root / 'tallyclerk.yaml'}: " + message.format(file=file)


def test_jpeg_and_svg_with_an_xml_declaration_are_accepted(tmp_path):
    root = branded_workspace(tmp_path, BRANDING.replace("logo.png", "logo.jpeg"))
    (root / "brand" / "logo.jpeg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    assert load_workspace(root).config.branding.logo == "brand/logo.jpeg"
    root = branded_workspace(tmp_path, BRANDING.replace("logo.png", "logo.svg"))
    (root / "brand" / "logo.svg").write_bytes(
        b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- logo -->\n'
        b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    )
    assert load_workspace(root).config.branding.logo == "brand/logo.svg"
