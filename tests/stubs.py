"""Submissions that do nothing, for the "pay only for behaviour that is there" rule.

`materialise_zero_stub(destination)` writes a copy of the reference in which
every method that a student writes (a `# SOLUTION:` region, see
docs/solution-markers.md) returns zeros of the right shape: the region still
runs, on the side, so that shapes, types and object state look right, but
every number it returns is zero (arrays, scalars, and the arrays inside
lists, tuples and dicts). A region that returns nothing does nothing when it
is an update (the optimizers' steps, `update_parameters`), and runs as it is
otherwise (constructors, `fit` of the encoder, a tape's `__enter__`).

Such a submission must earn next to nothing: a check that pays it is a check
that pays for behaviour that is not there.
"""

import pathlib
import re

from mutants import copy_reference

UPDATES = re.compile(r"def (apply_gradients|update_parameters|update|add_gradient_fragments)\(")

ZERO_LIKE = '''

def _stub_zero(value):
    """Zeros shaped like `value` (arrays, numbers, and containers of them); other objects as they are."""
    import numpy as _np
    if isinstance(value, _np.ndarray):
        return _np.zeros_like(value)
    if isinstance(value, (bool, _np.bool_)) or value is None:
        return value
    if isinstance(value, (int, float, _np.number)):
        return type(value)(0)
    if isinstance(value, (list, tuple)):
        return type(value)(_stub_zero(v) for v in value)
    if isinstance(value, dict):
        return {k: _stub_zero(v) for k, v in value.items()}
    return value
'''


def _stub_regions(source):
    lines, out, i = source.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        marker = line.strip().startswith("# SOLUTION:")
        if not marker:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "# END SOLUTION")
        body = lines[i + 1:end]
        header = next(out[k] for k in range(len(out) - 1, -1, -1) if out[k].lstrip().startswith("def "))
        if any(re.match(r"\s*return\b", b) for b in body):
            out.append(f"{indent}def _stub_real():")
            out += ["    " + b if b.strip() else b for b in body]
            out.append(f"{indent}return _stub_zero(_stub_real())")
        elif UPDATES.search(header):
            out.append(f"{indent}pass  # an update that does nothing")
        else:
            out += body
        i = end + 1
    return "\n".join(out) + "\n"


def materialise_zero_stub(destination):
    """Write the do-nothing submission (both packages) into `destination`; return its path."""
    destination = copy_reference(destination)
    for path in sorted(pathlib.Path(destination).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "# SOLUTION:" in source:
            path.write_text(_stub_regions(source) + ZERO_LIKE, encoding="utf-8")
    return destination
