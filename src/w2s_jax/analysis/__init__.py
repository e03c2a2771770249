"""What results mean, from saved runs (NumPy and matplotlib; never JAX): the theory's
formulas (``theory``), regime labels (``regimes``), the measured boundary
(``boundary``), the theorem's conditions (``conditions``), per-configuration summaries
(``summary``, ``results``), run directories (``storage``), Markdown tables (``tables``)
and figures (``figure_plan``, ``figures``).
"""
