"""What results mean, from saved runs (NumPy and matplotlib; never JAX): the theory's
formulas (``theory``), regime labels (``regimes``), the boundary's estimators
(``boundary``) and a run's boundary (``run_boundary``, ``boundary.json``), the theorem's
conditions (``conditions``), per-configuration summaries (``summary``, ``results``), run
directories (``storage``) and their integrity (``integrity``), Markdown tables
(``tables``) and figures (``figure_plan``, ``figure_style``, ``curve_figures``,
``phase_figures``, ``theory_figures``, ``figures``).
"""
