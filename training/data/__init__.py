"""Motion data: the canonical motion format, importers and sequence datasets."""
