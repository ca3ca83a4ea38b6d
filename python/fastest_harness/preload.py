"""The preloader: a background process that has started the interpreter and imported
pytest and the harness once, and forks a ready worker for each request from a runner.

Started (detached) by crates/fastest-runner/src/preload.rs at the end of a run, with the
socket path it listens on. What it imports is what every worker imports before any
project code (the interpreter's start, `pytest`, the harness), so a forked worker is the
worker a fresh interpreter would have been at that point. It never imports project code.

A request is one message on a Unix socket: a length-prefixed JSON header (cwd, umask,
the complete environment) with the worker's five fds (stdin, stdout, stderr, command
pipe, event pipe) attached. The reply is `pid N`, then `status N` (a wait status) when
the worker exits. The worker is reaped only once the runner has closed its connection,
so its pid cannot be reused while the runner may still kill it.

It exits when its socket is removed (`fastest cache clear`) or replaced (a newer
preloader of the project), when the project's cache dir is removed, when a module it imported has changed on disk, and
after IDLE_SECONDS without a request.
"""
import gc
import json
import os
import signal
import socket
import struct
import sys

IDLE_SECONDS = 15 * 60
FD_COUNT = 5
HEADER_LIMIT = 1 << 22


def _state(path):
    """What a path is now: None when missing, else what changes with any rewrite."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _watched_paths():
    """What the forked workers were made from: every imported module's file, the
    directories on `sys.path` and their `.pth` files, the user site directory (even
    missing: `pip install --user` creates it) and the venv's `pyvenv.cfg`."""
    paths = []
    for module in list(sys.modules.values()):
        try:
            path = module.__file__
        except Exception:  # noqa: BLE001  (no __file__, or a module's odd __getattr__)
            continue
        if isinstance(path, str):
            paths.append(path)
    try:
        import site

        paths.append(site.getusersitepackages())
    except Exception:  # noqa: BLE001
        pass
    paths.append(os.path.join(sys.prefix, "pyvenv.cfg"))
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        paths.append(entry)
        try:
            paths.extend(os.path.join(entry, n) for n in os.listdir(entry) if n.endswith(".pth"))
        except OSError:
            continue
    return paths


def _snapshot():
    """The state of every watched path. A change (an edited or reinstalled pytest, a
    distribution or plugin installed or removed, a new user site) retires the
    preloader: its workers would not be what a fresh interpreter starts."""
    return [(path, _state(path)) for path in _watched_paths()]


def _unchanged(snapshot):
    return all(_state(path) == state for path, state in snapshot)


def _receive_request(conn):
    """The header and the fds of one request (None when the runner hung up or the
    message is malformed)."""
    fds = []
    data = b""
    try:
        msg, ancdata, _flags, _addr = conn.recvmsg(65536, socket.CMSG_LEN(FD_COUNT * 4))
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds.extend(struct.unpack("%di" % (usable // 4), payload[:usable]))
        data = msg
        if not data and not fds:
            return None  # a probe: `ensure_running` checks that this preloader answers
        if len(data) < 4:
            raise ValueError("short header")
        (length,) = struct.unpack("<I", data[:4])
        if length > HEADER_LIMIT:
            raise ValueError("header too long")
        while len(data) < 4 + length:
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("truncated header")
            data += chunk
        if len(fds) != FD_COUNT:
            raise ValueError("expected %d fds, got %d" % (FD_COUNT, len(fds)))
        return json.loads(data[4 : 4 + length].decode("utf-8")), fds
    except (OSError, ValueError) as exc:
        sys.stderr.write("fastest preloader: bad request: %s\n" % exc)
        for fd in fds:
            os.close(fd)
        return None


def _become_worker(request, fds, preloaded):
    """In the forked child: take the runner's fds and environment, then run the worker
    from where a fresh one would be after `import pytest`. Never returns to the
    preloader's loop: it ends with SystemExit (or KeyboardInterrupt), so the interpreter
    exits as a fresh worker's does, with its finalization."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # As the runner's `process_group(0)`: its own group, out of the terminal's Ctrl-C.
        os.setpgid(0, 0)
        import fcntl

        # Above the target numbers first, so no received fd is overwritten before use.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds]
        for fd in fds:
            os.close(fd)
        for target, fd in enumerate(high):
            os.dup2(fd, target, inheritable=True)
            os.close(fd)
        # A fresh worker's `python -c CODE HARNESS_DIR`.
        del sys.argv[2:]
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import time

        if hasattr(time, "tzset"):
            time.tzset()
        # Python chose line buffering from whether fd 1 was a terminal when it started.
        try:
            sys.stdout.reconfigure(line_buffering=os.isatty(1))
        except (AttributeError, OSError, ValueError):
            pass
        from fastest_harness import worker

        worker.main(preloaded)
    except Exception:  # noqa: BLE001  (on the worker's stderr, as a fresh one prints it)
        import traceback

        traceback.print_exc()
        raise SystemExit(1)
    raise SystemExit(0)


def _wait_status(pid):
    """The child's wait status if it has exited, without reaping it (None: running)."""
    if hasattr(os, "waitid"):
        result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if result is None or result.si_pid == 0:
            return None
        if result.si_code == os.CLD_EXITED:
            return (result.si_status & 0xFF) << 8
        return (result.si_status & 0x7F) | (0x80 if result.si_code == os.CLD_DUMPED else 0)
    # No waitid (not Linux): reap now; the runner kills only before it saw the status.
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done else None


def serve(sock_path, harness_dir, cache_dir):
    import selectors
    import time

    preloaded = _preload(harness_dir)
    snapshot = _snapshot()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = "%s.%d" % (sock_path, os.getpid())
    listener.bind(temporary)
    listener.listen(16)
    os.rename(temporary, sock_path)
    own = os.stat(sock_path).st_ino
    try:
        os.unlink(sock_path[: -len(".sock")] + ".starting")
    except OSError:
        pass
    # Older preloaders of this project (another interpreter or environment) retire:
    # sockets are named `<project>-<key>.sock`.
    directory, own_name = os.path.split(sock_path)
    project = own_name.split("-")[0] + "-"
    for name in os.listdir(directory):
        other = os.path.join(directory, name)
        if name.startswith(project) and name.endswith(".sock") and other != sock_path:
            try:
                os.unlink(other)
            except OSError:
                pass

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    children = {}  # pid -> connection (None once the runner hung up)
    told = set()  # pids whose exit status was sent
    last_used = time.monotonic()

    def release_socket():
        """Removes the socket if it is still this preloader's, and with it the log of
        what is then a clean exit (kept after a crash, for the reason; a same-key
        successor writes its own log under the same name)."""
        try:
            if os.stat(sock_path).st_ino == own:
                os.unlink(sock_path)
                os.unlink(sock_path[: -len(".sock")] + ".log")
        except OSError:
            pass

    def retire_reason():
        try:
            if os.stat(sock_path).st_ino != own:
                return "replaced"
        except OSError:
            return "removed"
        if not os.path.isdir(cache_dir):
            return "project gone"
        if time.monotonic() - last_used > IDLE_SECONDS:
            return "idle"
        return None

    while True:
        try:
            events = selector.select(timeout=1.0)
        except InterruptedError:
            events = []
        for key, _ in events:
            try:
                if key.data == "accept":
                    try:
                        conn, _ = listener.accept()
                    except OSError:
                        continue
                    last_used = time.monotonic()
                    conn.settimeout(5)
                    got = _receive_request(conn)
                    if got is None:
                        conn.close()
                        continue
                    request, fds = got
                    if not _unchanged(snapshot):
                        # Refused: the runner starts its worker the usual way.
                        conn.sendall(b"stale\n")
                        conn.close()
                        for fd in fds:
                            os.close(fd)
                        release_socket()
                        continue
                    # Nothing of the preloader's own output may reach a worker's stderr.
                    for stream in (sys.stdout, sys.stderr):
                        try:
                            stream.flush()
                        except (OSError, ValueError):
                            pass
                    try:
                        pid = os.fork()
                    except OSError as exc:  # no memory or pids left: the runner starts its own
                        sys.stderr.write("fastest preloader: fork failed: %s\n" % exc)
                        conn.close()
                        for fd in fds:
                            os.close(fd)
                        continue
                    if pid == 0:
                        try:
                            # Signals first: the wakeup fd is closed just below.
                            signal.set_wakeup_fd(-1)
                            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                            selector.close()
                            listener.close()
                            os.close(wake_read)
                            os.close(wake_write)
                            for other in children.values():
                                if other is not None:
                                    other.close()
                            conn.close()
                        except BaseException:  # noqa: BLE001  (never back into this loop)
                            os._exit(1)
                        _become_worker(request, fds, preloaded)
                    for fd in fds:
                        os.close(fd)
                    try:
                        conn.sendall(b"pid %d\n" % pid)
                    except OSError:
                        pass
                    children[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                elif key.data == "child":
                    try:
                        while os.read(wake_read, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    # The runner closed (or wrote to) a worker's connection.
                    pid = key.data
                    conn = children.get(pid)
                    try:
                        hung_up = conn.recv(64) == b""
                    except OSError:
                        hung_up = True
                    if hung_up:
                        selector.unregister(conn)
                        conn.close()
                        children[pid] = None
            except Exception as exc:  # noqa: BLE001  (one bad request must not end it)
                sys.stderr.write("fastest preloader: %r\n" % (exc,))
        # Report exits; reap those whose runner hung up.
        for pid, conn in list(children.items()):
            try:
                status = _wait_status(pid)
            except ChildProcessError:
                status = 0
            if status is None:
                continue
            if conn is not None and pid not in told:
                try:
                    conn.sendall(b"status %d\n" % status)
                except OSError:
                    pass
                told.add(pid)
            if conn is None:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                del children[pid]
                told.discard(pid)
        if not children and retire_reason() is not None:
            break
    release_socket()


def _preload(harness_dir):
    """Imports what every worker imports before project code (see worker.main), and
    answers what its `ready` message says."""
    sys.path[:] = [p for p in sys.path if p not in ("", harness_dir)]
    from fastest_harness import worker

    worker._compile_harness()
    facts = worker.interpreter_facts()
    from fastest_harness import native  # noqa: F401  (imported by every native worker)

    # What a native worker imports next, before project code (~15 ms a worker, half of it
    # doctest/pdb and hashlib's libcrypto): the harness's own modules and the stdlib
    # ones they pull in. Imports only: no hook is installed, nothing is started.
    import ctypes  # noqa: F401  (deps loads the C audit hook with it)
    import doctest  # noqa: F401  (doctests)
    import faulthandler  # noqa: F401  (worker.main)
    import hashlib  # noqa: F401  (native's code cache keys)

    from fastest_harness import builtins, capture, deps, doctests  # noqa: F401

    # What exists now lives as long as a worker: frozen, a garbage collection in a
    # worker neither walks it nor writes to its pages (which fork shares until then).
    # tomlkit's one-shot edit: the exit's collection 11-15 -> 1-2 ms.
    gc.collect()
    gc.freeze()
    return facts


def main():
    """`python -c ... preload.main() HARNESS_DIR SOCKET CACHE_DIR`: detaches, then
    serves until CACHE_DIR is gone (among other reasons)."""
    harness_dir, sock_path, cache_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    # Nothing the runner inherited (a lock, a jobserver pipe) may live on for minutes.
    os.closerange(3, _max_fd())
    if os.fork():
        os._exit(0)
    # Its own process group, out of the terminal's Ctrl-C, in the same session: workers
    # keep the controlling terminal a fresh worker has (`/dev/tty`).
    os.setpgid(0, 0)
    serve(sock_path, harness_dir, cache_dir)


def _max_fd():
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 1024
