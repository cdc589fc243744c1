"""The bundled conformance suite: one probe module per behaviour family, its table in expectations/."""
