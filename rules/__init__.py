"""Rule models, one SQL compiler per rule kind, and the built-in packs."""
