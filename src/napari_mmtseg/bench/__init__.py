"""Benchmarks (Qt-free): ``mmtseg bench`` runs methods over a data set with
human annotations, writes a per-image CSV, a Markdown summary, a stability
table and figures.

- :mod:`.datasets`: BSDS500 and microscopy-mask readers.
- :mod:`.run`: the resumable loop.
- :mod:`.report`: summary tables and figures from the CSV.
"""
