"""A tiny four-system workspace closed over three months, its data changing in between.

What each month holds, and so what the November reports must say:

| finding                             | Sep | Oct | Nov | in November          |
| ----------------------------------- | --- | --- | --- | -------------------- |
| S4 missing in erp                   | yes |     |     | resolved in October  |
| S5 missing in erp                   | yes | yes |     | resolved             |
| S6 missing in erp                   |     | yes | yes | 30 days old          |
| S7 missing in erp                   |     |     | yes | new                  |
| INV2 total 80.00 against 50.00      | yes | yes | yes | 61 days old, 30.00   |
| INV3 not in finance, rated 70.00    |     | yes |     | resolved (accrual)   |
| customer id `<script>...` twice     | yes | yes | yes | 61 days old          |
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
PERIODS = ("2026-09", "2026-10", "2026-11")

WORKSPACE_YAML = """\
name: Tiny Freight & Co
systems:
  erp:
    kind: erp
    sources:
      - entity: shipment
        file: erp_shipments.csv
        columns: {shipment_id: id}
      - entity: customer
        file: erp_customers.csv
        columns: {customer_id: id, name: name}
  wms:
    kind: wms
    sources:
      - entity: shipment
        file: wms_shipments.csv
        columns: {shipment_id: id}
  tms:
    kind: tms
    sources:
      - entity: shipment
        file: tms_shipments.csv
        columns:
          shipment_id: id
          carrier_scac: scac
          freight_cost: cost
          carrier_invoice_no: invoice
  finance:
    kind: finance
    sources:
      - entity: freight_invoice
        file: freight_invoices.csv
        columns: {invoice_id: doc, carrier_scac: scac, carrier_invoice_no: invoice, amount: amount}
ownership:
  shipment: {owner: wms}
  customer: {owner: erp}
  freight_invoice: {owner: finance}
rules:
  - id: shipment-posted-to-erp
    kind: match
    entity: shipment
    systems: [wms, erp]
    key: [shipment_id]
    severity: critical
  - id: carrier-invoice-vs-rated-cost
    kind: aggregate
    entity: freight_invoice
    left: {table: finance.freight_invoice, by: [carrier_scac, carrier_invoice_no], measure: amount}
    right: {table: tms.shipment, by: [carrier_scac, carrier_invoice_no], measure: freight_cost}
    abs_tol: 1.00
    money: true
    severity: high
  - id: customer-duplicates
    kind: duplicates
    table: erp.customer
    key: [customer_id]
    severity: medium
"""

MONTHS = {
    "2026-09": {
        "erp": ["S1", "S2", "S3"],
        "wms": ["S1", "S2", "S3", "S4", "S5"],
        "tms": [("S1", "100.00", "INV1"), ("S2", "50.00", "INV2")],
        "finance": [("D1", "INV1", "100.00"), ("D2", "INV2", "80.00")],
    },
    "2026-10": {
        "erp": ["S1", "S2", "S3", "S4"],
        "wms": ["S1", "S2", "S3", "S4", "S5", "S6"],
        "tms": [("S1", "100.00", "INV1"), ("S2", "50.00", "INV2"), ("S3", "70.00", "INV3")],
        "finance": [("D1", "INV1", "100.00"), ("D2", "INV2", "80.00")],
    },
    "2026-11": {
        "erp": ["S1", "S2", "S3", "S4", "S5"],
        "wms": ["S1", "S2", "S3", "S4", "S5", "S6", "S7"],
        "tms": [("S1", "100.00", "INV1"), ("S2", "50.00", "INV2"), ("S3", "70.00", "INV3")],
        "finance": [("D1", "INV1", "100.00"), ("D2", "INV2", "80.00"), ("D3", "INV3", "70.00")],
    },
}


def write_workspace(root: Path, extra_yaml: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tallyclerk.yaml").write_text(WORKSPACE_YAML + extra_yaml, encoding="utf-8")
    write_month(root, PERIODS[0])
    return root


def write_month(root: Path, period: str) -> None:
    """The four systems' files as they stand at the close of `period`."""
    month = MONTHS[period]
    files = {
        "erp_shipments.csv": ["id", *month["erp"]],
        "wms_shipments.csv": ["id", *month["wms"]],
        "tms_shipments.csv": ["id,scac,cost,invoice"]
        + [f"{ship},ACME,{cost},{invoice}" for ship, cost, invoice in month["tms"]],
        "freight_invoices.csv": ["doc,scac,invoice,amount"]
        + [f"{doc},ACME,{invoice},{amount}" for doc, invoice, amount in month["finance"]],
        "erp_customers.csv": ["id,name", f'"{SCRIPT}",Quayside Foods', f'"{SCRIPT}",Quayside Food'],
    }
    for name, lines in files.items():
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
