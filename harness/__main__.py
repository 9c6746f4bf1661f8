import atexit
import os
import sys

from .sandbox import zygote  # imports no numpy

if sys.argv[1:2] in (["grade"], ["check"]):
    # Its numpy import overlaps ours below (harness/sandbox/zygote.py, "started early").
    zygote.prestart(connections=2)

from .cli import main  # noqa: E402 - after the zygote has started

status = main()
# Everything is written and every sandbox is gone: leave without tearing the
# interpreter down (~50 ms with numpy, pytest and the catalog loaded, all of
# it waited for by whoever runs us). The exit handlers still run.
sys.stdout.flush()
sys.stderr.flush()
atexit._run_exitfuncs()
os._exit(status or 0)
