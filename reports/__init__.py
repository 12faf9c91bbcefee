"""Result reports: figures, brain maps and one self-contained HTML page from finished runs (``report.py``)."""
