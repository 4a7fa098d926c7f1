"""The report: one self-contained HTML page and its Vega-Lite charts."""
