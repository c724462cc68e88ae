"""The report: Altair figures, pictures of data and models, and the self-contained HTML page."""
