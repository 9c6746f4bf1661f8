"""Resource limits of a sandbox worker (one `Limits` per `Sandbox`)."""

from dataclasses import asdict, dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """What one sandbox worker may use. Every limit yields a clear error result.

    Times are seconds, sizes bytes. `None` switches a limit off (not advised).
    """

    #: wall clock per call into student code: each op of a request (an op
    #: that declares `calls` n gets n of them, and one of its calls that runs
    #: longer than one by itself is stopped), each evaluation of a map. On
    #: expiry the worker and everything it spawned is killed (SIGTERM, then
    #: SIGKILL after `kill_grace`). `Sandbox.run(timeout=...)` gives a request
    #: one limit of its own instead.
    timeout: float = 20.0
    #: wall clock to start a worker (interpreter + numpy import).
    startup_timeout: float = 30.0
    #: seconds between SIGTERM and SIGKILL.
    kill_grace: float = 0.2
    #: CPU seconds per call (RLIMIT_CPU, re-armed before each request for all
    #: its calls); catches multi-threaded burns that the wall clock would let
    #: run longer.
    cpu_seconds: int | None = 30
    #: address space (RLIMIT_AS) of each sandboxed process.
    memory_bytes: int | None = 2 * GiB
    #: processes + threads (RLIMIT_NPROC). The kernel counts every process of
    #: the worker's uid, so concurrent sandboxes running as the same user share
    #: it. Without root (no uid switch) the limit is added to the number of
    #: processes the judge's user already runs.
    max_processes: int | None = 64
    #: largest file the worker may write (RLIMIT_FSIZE); also bounds stdout/stderr.
    file_size_bytes: int | None = 64 * MiB
    #: open file descriptors (RLIMIT_NOFILE).
    open_files: int | None = 256
    #: stdout and stderr kept per op and per stream; the rest is dropped and counted.
    output_bytes: int = 64 * KiB
    #: put the worker in namespaces of its own (PID, mount, IPC, network)
    #: where the system allows it; False runs it as in a container without
    #: CAP_SYS_ADMIN (to test that fallback: uids, permissions, rlimits).
    namespaces: bool = True
    #: size of each private tmpfs the worker gets where mounts are allowed
    #: (the temp dir, /dev/shm, its HOME/TMPDIR): filling one hurts nobody else.
    tmp_bytes: int | None = 64 * MiB
    #: largest message either way (a request, or one op's reply).
    message_bytes: int = 256 * MiB
    #: largest submission copied into the sandbox (all regular files together).
    submission_bytes: int = 256 * MiB
    #: allow network access (when False and the judge is root, the worker gets
    #: an empty network namespace).
    network: bool = False

    def to_wire(self) -> dict:
        return asdict(self)
