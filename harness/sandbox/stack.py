"""Where a worker was when the judge stopped it: its stack, read from outside.

Before the judge kills a call that ran out of time it sends the worker
SIGUSR1; faulthandler (armed by the worker at startup, before any student
code) writes every thread's Python stack to the stack file from a C signal
handler, so it answers even while C code holds the GIL. This module turns
that dump into what the reports need: the submission's innermost function
("bgd.layers.conv2d:Convolutional2D._forward", like `ErrorInfo.where` for an
exception) and the submission's frames as a traceback.

The dump is written by a process that runs student code: it is parsed as
untrusted text and only ever names things. Qualified names come from the
judge's own parse (`ast`, never executed) of the submission's file.
"""

from __future__ import annotations

import ast
import os
import re
import stat

FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<name>[^\s]+)\s*$')
THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-fA-F]+")
MAX_SOURCE_BYTES = 2 * 1024 * 1024


def threads(text: str) -> list[list[tuple[str, int, str]]]:
    """The dump's threads, each a list of (file, line, function), innermost first."""
    found: list[list[tuple[str, int, str]]] = []
    for line in text.splitlines():
        if THREAD.match(line):
            found.append([])
            continue
        match = FRAME.match(line)
        if match and found:
            found[-1].append((match["file"], int(match["line"]), match["name"]))
    return found


def qualname_at(source: str, line: int, name: str) -> str:
    """The qualified name of the function `name` defined around `line` of `source`
    ("Convolutional2D._forward", "outer.<locals>.inner"), or `name` when not found."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return name
    best: list[str] = []  # the innermost def named `name` around the line
    enclosing: list[str] = []  # the innermost def around the line (for <listcomp>, <lambda>, ...)

    def visit(node, path: list[str]) -> None:
        nonlocal best, enclosing
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([child.lineno] + [d.lineno for d in getattr(child, "decorator_list", [])])
                end = getattr(child, "end_lineno", None) or child.lineno
                if not start <= line <= end:
                    continue
                inner = path + [child.name]
                if not isinstance(child, ast.ClassDef):
                    if child.name == name and len(inner) > len(best):
                        best = inner
                    if len(inner) > len(enclosing):
                        enclosing = inner
                    visit(child, inner + ["<locals>"])
                else:
                    visit(child, inner)
            else:
                visit(child, path)

    visit(tree, [])
    if name.startswith("<") and name != "<module>":  # a comprehension or lambda: named after its function, as
        return ".".join(enclosing + ["<locals>", name]) if enclosing else name  # co_qualname does
    return ".".join(best) if best else name


def _source(path: str, root: str) -> str:
    """The text of a submission file named by the dump: only a regular .py file
    really inside `root` (the student's folder may hold symlinks, and the dump
    may name any path), read only once the student's processes are dead."""
    real = os.path.realpath(path)
    if not real.startswith(root + os.sep) or not real.endswith(".py"):
        return ""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
            return ""
        return os.read(fd, MAX_SOURCE_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def locate(dump: str, workdir: str | os.PathLike, worker_script: str | os.PathLike) -> tuple[str, str]:
    """(where, traceback) of the worker's op thread in a faulthandler dump.

    `where`: "module:qualname" of the innermost frame in the submission ("" if
    none: the worker was in the harness's or numpy's code); `traceback`: the
    submission's frames, outermost first, with their source lines, paths
    relative to the submission. Call it once the worker is dead: it reads the
    submission's files.
    """
    prefix = str(workdir).rstrip(os.sep) + os.sep
    root = os.path.realpath(workdir)
    script = str(worker_script)
    candidates = threads(dump)
    # The thread that runs ops has the worker's request loop on its stack;
    # the worker's other threads (and the student's) come after it.
    candidates.sort(key=lambda frames: not any(file == script for file, _, _ in frames))
    for frames in candidates:
        own = [
            (file, line, name) for file, line, name in frames
            if file.startswith(prefix) and os.path.realpath(file).startswith(root + os.sep)
        ]
        if not own:
            continue
        lines = ["Stopped here (most recent call last):"]
        where = ""
        for file, line, name in reversed(own):
            source = _source(file, root)
            qualified = qualname_at(source, line, name) if source else name
            relative = file[len(prefix):]
            lines.append(f'  File "{relative}", line {line}, in {name}')
            numbered = source.splitlines()
            text = numbered[line - 1].strip() if 0 < line <= len(numbered) else ""
            if text:
                lines.append(f"    {text[:200]}")
            module = relative.removesuffix(".py").replace(os.sep, ".").removesuffix(".__init__")
            where = f"{module}:{qualified}"
        return where, "\n".join(lines) + "\n"
    return "", ""
