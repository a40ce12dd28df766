"""Report layer: district review workbooks and the period's HTML report."""
