"""The end of the run: the gate's verdict, the charts and ``report.html`` as files (:func:`publish`).

Modules: :mod:`publication` assembles the files; :mod:`gate` decides and enforces the verdict;
:mod:`charts` draws the SVG charts; :mod:`html_report` renders the self-contained page.
"""

from fitsense_luigi.quality.publish.publication import Publication, publish

__all__ = ["Publication", "publish"]
