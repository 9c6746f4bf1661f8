"""Templates of the reports the harness writes: package data, not code.

`harness.report` loads them with `importlib.resources` (so they work from an
installed wheel as from this folder) and renders them with Jinja2:
`report.html.j2` is the whole page of one submission (SPEC 5, `report.html`),
`fragment.html.j2` its body alone (embeddable: no script, nothing fetched),
`report.css` the style both inline.
"""
