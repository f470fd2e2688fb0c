"""Crash-proof oracle queries: a warm worker process, time limits, and majority votes for flaky oracles.

`IsolatedExecutor` runs each query in a spawned child, so a segfault, an abort,
a hang or an out-of-memory kill becomes a failure `Signature` ("crash: SIGSEGV",
"timeout") instead of the end of the minifier. `TimedExecutor` enforces the time
limit in this process; `MajorityExecutor` asks a flaky oracle up to three times.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import copy
import logging
import multiprocessing
import multiprocessing.util  # before our atexit hook, so that ours runs first (atexit is LIFO)
import importlib
import os
import pathlib
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import traceback
import weakref
from collections.abc import Sequence
from typing import Any

import torch.fx

from compdebug.config import config
from compdebug.errors import BadInputError, IsolationError
from compdebug.minify.oracles import Oracle, Signature, copy_graph_module
from compdebug.repro.target import ReproTarget

log = logging.getLogger("compdebug.minify")

# Failures no oracle reports itself: the query's process died, or gave no answer in time.
HARD_STAGES = ("crash", "timeout")
# With isolate=True and no query_timeout, a query still ends after this many seconds:
# a hung compiler must never hang the minifier for good.
DEFAULT_ISOLATED_TIMEOUT = 600.0
# Seconds a fresh worker may take to import torch and compdebug (slow on a loaded machine).
STARTUP_TIMEOUT = 300.0
VOTES = 3


# ----------------------------------------------------------------------------- signatures


def crash_signature(exitcode: int | None) -> Signature:
    """The failure of a query whose process died: by a signal ("crash: SIGSEGV") or with an exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        what, text = f"crash: {name}", f"the query's process was killed by {name}"
    else:
        what, text = f"crash: exit code {exitcode}", f"the query's process exited with code {exitcode}"
    return Signature("crash", what, None, text=text)


def timeout_signature(seconds: float) -> Signature:
    """The failure of a query that gave no answer within `seconds`."""
    return Signature("timeout", "timeout", None, text=f"no answer within {seconds:g} s (query_timeout)")


def hard_failure_target(oracle: Oracle, signature: Signature, timeout: float | None) -> ReproTarget:
    """How a crash or timeout reproduces: compile and run with the oracle's backend, and die or hang."""
    base = oracle.repro_target(Signature(oracle.kind))
    return ReproTarget(
        kind=signature.stage,
        backend=base.backend,
        error_type=signature.error_type,
        error_message=signature.text,
        predicate_path=base.predicate_path,
        timeout_s=timeout if signature.stage == "timeout" else None,
    )


# ----------------------------------------------------------------------------- in this process


class QueryTimeout(BaseException):
    """Raised inside a query that ran past its time limit (a BaseException: oracles must not catch it)."""


class TimedExecutor:
    """Runs queries through `inner` in this process, ending one that runs past `timeout` seconds.

    The limit is a SIGALRM timer: it holds on POSIX in the main thread, while
    Python code runs (a C++ call that never returns to Python cannot be
    stopped from inside the process: use isolation for those). Elsewhere, or
    while another timer is armed, queries run without a limit.
    """

    def __init__(self, inner: Any, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout
        self._warned = False

    def evaluate(self, oracle: Oracle, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        if not self._can_time():
            return self.inner.evaluate(oracle, gm, inputs)
        armed = [True]

        def expired(signum: int, frame: Any) -> None:
            if armed[0]:  # a late signal after the query ended must not raise
                armed[0] = False
                raise QueryTimeout

        previous = signal.signal(signal.SIGALRM, expired)
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, self.timeout)
                try:
                    return self.inner.evaluate(oracle, gm, inputs)
                finally:
                    armed[0] = False
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except QueryTimeout:
                log.info("a query ran past query_timeout=%g s; it counts as a 'timeout' failure", self.timeout)
                return timeout_signature(self.timeout)
        finally:
            signal.signal(signal.SIGALRM, previous)

    def _can_time(self) -> bool:
        possible = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        if possible and signal.getitimer(signal.ITIMER_REAL)[0] == 0:
            return True
        if not self._warned:
            self._warned = True
            log.warning(
                "query_timeout=%g s cannot be enforced in this process (%s); queries run without a time limit. "
                "Use isolate=True to limit them.",
                self.timeout,
                "another SIGALRM timer is armed" if possible else "not the main thread, or no SIGALRM here",
            )
        return False

    def close(self) -> None:
        self.inner.close()


class MajorityExecutor:
    """Asks `inner` up to `votes` times per query and answers what most runs saw (for flaky oracles).

    It stops as soon as one answer has a majority; when every run answers
    differently, the candidate counts as not failing. `extra_runs` counts the
    oracle runs beyond one per query; `split_queries` the queries whose runs disagreed.
    """

    def __init__(self, inner: Any, votes: int = VOTES) -> None:
        self.inner = inner
        self.votes = votes
        self.extra_runs = 0
        self.split_queries = 0

    def evaluate(self, oracle: Oracle, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        seen: collections.Counter[Signature | None] = collections.Counter()
        for run in range(self.votes):
            self.extra_runs += run > 0
            observed = self.inner.evaluate(oracle, _own_copy(gm), inputs)  # a compiler may change what it is given
            seen[observed] += 1
            if seen[observed] > self.votes // 2:
                self.split_queries += len(seen) > 1
                return observed
        self.split_queries += 1
        return None

    def close(self) -> None:
        if self.split_queries:
            log.warning(
                "the oracle answered differently across runs of %d queries; each was judged by majority of %d",
                self.split_queries, self.votes,
            )
        self.inner.close()


def _own_copy(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A copy of `gm` with its own graph and buffers (parameters shared): one run cannot change the next."""
    memo = {id(p): p for _, p in gm.named_parameters(remove_duplicate=False)}
    try:
        return copy.deepcopy(gm, memo)
    except Exception:  # modules holding objects that cannot be copied
        return copy_graph_module(gm)


# ----------------------------------------------------------------------------- in a child process


class IsolatedExecutor:
    """Runs each query in a warm worker process started with multiprocessing's "spawn" method.

    The candidate travels as files (the checkpoint's graph.py, inputs.pt,
    state.pt) and the oracle pickled; the answer comes back over a pipe. A
    worker that dies or hangs (killed with SIGKILL after `timeout` seconds)
    gives the query a "crash" or "timeout" signature and is replaced; after
    the first death a spare worker is kept warm, so the next query does not
    wait for a fresh interpreter to import torch.
    """

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = DEFAULT_ISOLATED_TIMEOUT if timeout is None else timeout
        self._pool = _Pool()
        self._finalizer = weakref.finalize(self, self._pool.shutdown)
        self._payloads: dict[int, tuple[Oracle, bytes]] = {}
        self._jobs = 0

    def evaluate(self, oracle: Oracle, gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Signature | None:
        from compdebug.repro.graph_files import write_graph  # the checkpoint's own graph files

        payload = self._payload(oracle)
        self._jobs += 1
        job = self._pool.root() / f"query-{self._jobs}"
        job.mkdir()
        try:
            problems = write_graph(job, gm, list(inputs))
            if problems:
                raise BadInputError(
                    "isolate=True hands each candidate graph to the worker process as Python source, and this "
                    f"graph cannot be written as source: {'; '.join(problems)}. Run without isolate, or make "
                    "those values importable (module-level, not __main__)."
                )
            reply = self._pool.ask({"dir": str(job), "oracle": payload, "config": _changed_config()}, self.timeout)
        finally:
            shutil.rmtree(job, ignore_errors=True)
        if reply[0] == "done":
            return reply[1]
        if reply[0] == "timeout":
            log.info("a query gave no answer within %g s: worker killed, counted as 'timeout'", self.timeout)
            return timeout_signature(self.timeout)
        if reply[0] == "crash":
            signature = crash_signature(reply[1])
            log.info("the worker process died during a query (%s); counted as that failure", signature.error_type)
            return signature
        raise IsolationError(
            f"the worker process could not run the query (isolate=True):\n{reply[1]}\nThe failure check must be "
            "importable in a fresh Python process: a backend registered by, or defined at module level in, an "
            "importable module, and a predicate defined at module level."
        )

    def _payload(self, oracle: Oracle) -> bytes:
        cached = self._payloads.get(id(oracle))
        if cached is None or cached[0] is not oracle:
            cached = (oracle, oracle_payload(oracle))
            self._payloads[id(oracle)] = cached
        return cached[1]

    def close(self) -> None:
        self._finalizer()


def oracle_payload(oracle: Oracle) -> bytes:
    """`oracle` pickled for a worker process; `BadInputError` when it cannot travel there."""
    try:
        return pickle.dumps(oracle)
    except Exception as error:
        describe = getattr(oracle, "describe", lambda: repr(oracle))
        raise BadInputError(
            f"isolate=True sends the failure check to a child process, and {describe()} cannot be sent "
            f"({type(error).__name__}: {error}). Use a backend registered with torch._dynamo.register_backend "
            "or defined at module level in an importable module, and a predicate defined at module level "
            "(not a lambda or a local function); or run without isolate."
        ) from error


def _changed_config() -> dict[str, Any]:
    """The config keys that differ from their defaults (the worker starts from the defaults)."""
    defaults = config.defaults()
    return {key: value for key, value in config.to_dict().items() if value != defaults[key]}


class _Pool:
    """The worker answering queries, a spare after the first death, and the folder jobs are written to."""

    def __init__(self) -> None:
        self.worker: _Worker | None = None
        self.spare: _Worker | None = None
        self.deaths = 0
        self._root: pathlib.Path | None = None

    def root(self) -> pathlib.Path:
        if self._root is None:
            self._root = pathlib.Path(tempfile.mkdtemp(prefix="compdebug_isolate_"))
        return self._root

    def ask(self, job: dict[str, Any], timeout: float) -> tuple[Any, ...]:
        """Send `job` to a ready worker; its reply, ("timeout",) or ("crash", exit code)."""
        worker = self._ready()
        try:
            worker.conn.send(job)
        except (OSError, ValueError):  # it died between two queries: not this query's doing
            self._retire(worker)
            worker = self._ready()
            worker.conn.send(job)
        try:
            if not worker.conn.poll(timeout):
                self._retire(worker)
                return ("timeout",)
            reply = worker.conn.recv()
        except (EOFError, OSError):
            return ("crash", self._retire(worker))
        except BaseException:  # Ctrl-C while waiting: its answer would reach the next query
            self._retire(worker, counted=False)
            raise
        if reply[0] == "done" and reply[2]:  # the worker cannot go on (a query lowered its memory limit)
            self._retire(worker, counted=False)
        return reply

    def _ready(self) -> _Worker:
        if self.worker is None:
            self.worker, self.spare = self.spare or _Worker(), None
            if self.deaths:  # deaths come in runs: one more warms up while this one starts and works
                self.spare = _Worker()
        try:
            self.worker.wait_ready(STARTUP_TIMEOUT)
        except BaseException:  # it could not start, or Ctrl-C while it did
            self._retire(self.worker, counted=False)
            raise
        return self.worker

    def _retire(self, worker: _Worker, *, counted: bool = True) -> int | None:
        """Kill `worker` (SIGKILL if still alive); return its exit code. A `counted` death starts a spare."""
        self.deaths += counted
        if worker is self.worker:
            self.worker = None
        code = worker.kill()
        if counted and self.spare is None:
            self.spare = _Worker()  # its replacement starts now, while the next query is written
        return code

    def shutdown(self) -> None:
        for worker in (self.worker, self.spare):
            if worker is not None:
                worker.stop()
        self.worker = self.spare = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


_LIVE: set[_Worker] = set()


@atexit.register
def _kill_live_workers() -> None:
    """At exit, before multiprocessing joins its children: no worker outlives this process."""
    for worker in list(_LIVE):
        worker.kill()


class _Worker:
    """One spawned child process and this side of its pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child_end,), name="compdebug-query-worker")
        self.process.start()
        child_end.close()  # so that its death reads as end-of-file here
        self.ready = False
        _LIVE.add(self)

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        try:
            started = self.conn.poll(timeout)
            if started:
                self.conn.recv()
        except (EOFError, OSError):
            started = False
        if not started:
            code = self.kill()
            raise IsolationError(_startup_failure(code, timeout))
        self.ready = True

    def kill(self) -> int | None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(30)
        self.conn.close()
        _LIVE.discard(self)
        return self.process.exitcode

    def stop(self) -> None:
        """Ask a ready worker to exit, and kill it if it does not; one still starting is killed at once."""
        if self.ready:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
            self.process.join(5)
        self.kill()


def _startup_failure(code: int | None, timeout: float) -> str:
    if code is None or code == -signal.SIGKILL:
        what = f"did not start within {timeout:g} s"
    else:
        what = f"exited ({crash_signature(code).error_type}) before it was ready; its error is printed above"
    main = sys.modules.get("__main__")
    hint = ""
    if getattr(getattr(main, "__spec__", None), "name", None) is None and getattr(main, "__file__", None):
        hint = (
            " The worker is started with multiprocessing's 'spawn' method, which runs your main script again in "
            "the child: a script that minifies at top level must do so under `if __name__ == \"__main__\":`."
        )
    return f"the worker process for isolated queries (isolate=True) {what}.{hint}"


# ----------------------------------------------------------------------------- the worker's side


def _worker_main(conn: Any) -> None:
    """The child: answer jobs from `conn` until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    importlib.import_module("compdebug")  # registers compdebug's backends, as in the parent

    limit = _address_space_limit()
    oracles: dict[bytes, Oracle] = {}
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        reply = _answer(job, oracles)
        if reply[0] == "done":
            reply = (*reply, not _restore_limit(limit))
        conn.send(reply)


def _answer(job: dict[str, Any], oracles: dict[bytes, Oracle]) -> tuple[Any, ...]:
    """Run one query as this process's minifier would (same seeding); an error that keeps it from running, as text."""
    from compdebug.repro.graph_files import read_graph
    from compdebug.minify.executor import InProcessExecutor

    try:
        config.load(job["config"])
        if job["oracle"] not in oracles:
            oracles[job["oracle"]] = pickle.loads(job["oracle"])
        gm, inputs, _ = read_graph(job["dir"])
        return ("done", InProcessExecutor().evaluate(oracles[job["oracle"]], gm, inputs))
    except Exception:
        return ("error", traceback.format_exc(limit=-8))


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when its parent dies (a killed minifier leaves no orphan)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the line above
            os._exit(0)


def _address_space_limit() -> tuple[int, int] | None:
    try:
        import resource

        return resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, AttributeError, OSError, ValueError):
        return None


def _restore_limit(limit: tuple[int, int] | None) -> bool:
    """Put back the address-space limit a query changed; False when that is impossible."""
    if limit is None:
        return True
    import resource

    if resource.getrlimit(resource.RLIMIT_AS) == limit:
        return True
    try:
        resource.setrlimit(resource.RLIMIT_AS, limit)
        return True
    except (OSError, ValueError):  # a query lowered the hard limit: only a new worker has the old one
        return False
