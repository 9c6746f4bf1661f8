import sys

from .sandbox import zygote  # imports no numpy

if sys.argv[1:2] in (["grade"], ["check"]):
    # Its numpy import overlaps ours below (harness/sandbox/zygote.py, "started early").
    zygote.prestart(connections=2)

from .cli import main  # noqa: E402 - after the zygote has started

sys.exit(main())
