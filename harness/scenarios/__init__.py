"""Code of the harness that runs INSIDE the sandbox, beside the student's code.

The sandbox copies this package into the worker's site folder, where it is
imported as `gradecheck_scenarios` (see `harness.plugin.SCENARIOS`). It
holds probe classes (small layers, losses and optimizers of the harness's own,
built on the student's GIVEN base classes and unlike anything a student
writes, so that a check of one class never depends on the student's other
classes) and scenario functions: plain Python that a check asks the worker
to run, on the student's engine and on the reference's, returning plain data.

Its `*_properties` modules are pure functions over plain data (NumPy only):
the judge imports them to judge what a scenario played on the student's
engine alone returned (`harness.play.play_judged`), and the check's
reproducer script carries a copy of them.

Rules for this package:
- it never imports `harness` (the worker cannot) and nothing of `reference/`
  (no solution code may enter a student's sandbox): only the standard
  library, numpy and the graded packages, imported inside functions;
- student code shares the worker's interpreter and may tamper with anything
  here: the judge treats what comes back as untrusted data, as always.
"""

# The name this package is imported by inside the sandbox (the only name the
# judge may use for it: the judge itself imports none of its modules but the
# pure `*_properties`).
IMPORT_NAME = "gradecheck_scenarios"
