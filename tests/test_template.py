"""The student template: generated from the reference, importable, all TODO."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from harness import template

TODO_RAISE = re.compile(r"""raise NotImplementedError\(["'](?P<owner>[\w.]+): TODO""")


def test_committed_template_is_what_the_generator_writes():
    assert template.differences() == []


def test_generator_replaces_fenced_code_and_names_the_method():
    source = textwrap.dedent(
        """\
        import numpy as np
        import nnmath  # SOLUTION LINE

        class Layer:
            def forward(self, x):
                \"\"\"Docstring stays.\"\"\"
                # SOLUTION: the output for x
                return nnmath.f(x)
                # END SOLUTION

            # SOLUTION
            def _helper(self):
                return 1

            # END SOLUTION
            def given(self):
                return 2
        """
    )
    out = template.strip_solutions(source)
    assert "nnmath" not in out and "_helper" not in out
    assert 'raise NotImplementedError("Layer.forward: TODO the output for x")' in out
    assert '"""Docstring stays."""' in out and "def given(self):\n        return 2" in out
    compile(out, "<template>", "exec")


@pytest.mark.parametrize(
    "source",
    [
        "# SOLUTION: a\nx = 1\n",
        "x = 1\n# END SOLUTION\n",
        "# SOLUTION: a\n# SOLUTION: b\n# END SOLUTION\n",
    ],
)
def test_generator_rejects_unbalanced_markers(source):
    with pytest.raises(template.MarkerError):
        template.strip_solutions(source)


def test_template_has_no_solution_left():
    for relative, text in template.template_files().items():
        assert "nnmath" not in text, relative
        assert "SOLUTION" not in text, relative


def student_methods():
    """(module, qualified name) of every method the template leaves to students."""
    found = []
    for relative, text in template.template_files().items():
        module = relative[: -len(".py")].replace("/", ".").removesuffix(".__init__")
        found += [(module, m["owner"]) for m in TODO_RAISE.finditer(text)]
    return found


# Arguments by parameter name, so that each method reaches its TODO; any
# other parameter gets a small float array.
CALL_PROBE = textwrap.dedent(
    """\
    import importlib, inspect, json, sys
    import numpy as np

    ARGS = {"initializer": "normal", "input_size": 2, "output_size": 2, "function": "relu",
            "epochs": 1, "batch_size": 2, "training": True, "labels": np.array([0, 1]),
            "layer": None, "J": [np.ones((2, 2))], "alpha": 0.3, "pool_shape": (2, 2),
            "filter_shape": (2, 2, 2), "n_filters": 2, "n_in": 2, "n_out": 2, "keep_proba": 0.5,
            "layers": [], "learning_rate": 0.1}

    def positional(function, skip_self):
        params = [p for p in inspect.signature(function).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        return [ARGS.get(p.name, np.ones((2, 2))) for p in params[skip_self:]]

    def instance(cls):
        # a real instance where the given constructor works, else a bare one
        try:
            return cls(*positional(cls.__init__, 1))
        except Exception:
            return object.__new__(cls)

    results = {}
    for module_name, qualname in json.loads(sys.argv[1]):
        obj = importlib.import_module(module_name)
        owner = None
        for part in qualname.split("."):
            owner, obj = obj, getattr(obj, part)
        raw = inspect.getattr_static(owner, qualname.split(".")[-1]) if isinstance(owner, type) else obj
        bound = isinstance(owner, type) and not isinstance(raw, (staticmethod, classmethod))
        args = positional(obj, 1 if bound else 0)
        if bound:
            obj = obj.__get__(instance(owner), owner)
        try:
            obj(*args)
            results[qualname] = "returned"
        except NotImplementedError as error:
            results[qualname] = "NotImplementedError: " + str(error)
        except Exception as error:
            results[qualname] = f"{type(error).__name__}: {error}"
    print(json.dumps(results))
    """
)


def test_template_imports_and_every_student_method_raises_not_implemented():
    methods = student_methods()
    assert len(methods) >= 20
    probe = subprocess.run(
        [sys.executable, "-c", CALL_PROBE, json.dumps(methods)],
        cwd=template.TEMPLATE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    results = json.loads(probe.stdout)
    for _, qualname in methods:
        assert results[qualname].startswith(f"NotImplementedError: {qualname}: TODO"), (qualname, results[qualname])


def test_student_readme_names_every_class_to_write():
    readme = (template.TEMPLATE_DIR / "README.md").read_text()
    classes = {qualname.split(".")[0] for _, qualname in student_methods()}
    missing = sorted(name for name in classes if name not in readme)
    assert not missing, f"student_template/README.md does not mention {missing}"
    assert "python -m harness check" in readme
