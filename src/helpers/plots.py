"""Matplotlib figures for the notebooks and the report.

Presentation only: every function takes numbers that other modules computed (``data``,
``training``, ``metrics``, ``decoding``) and returns a ``matplotlib.figure.Figure``; none
computes a metric or decodes by itself.
"""

from __future__ import annotations
