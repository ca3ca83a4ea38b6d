"""`--pdb` and `--trace` for the native engine: pdb in the worker, on the terminal the
worker shares with the runner (it inherits stdin and stays in the foreground process
group), after the runner has flushed its output (`interact` / `resume` on the protocol).

The text around the session is pytest's (`_pytest/debugging.py`: `_enter_pdb`,
`pytestPDB._init_pdb`, `do_continue`); quitting the debugger ends the run as pytest's
`Exit("Quitting debugger")` does (exit code 2).
"""
import pdb
import shutil
import sys


class QuitDebugger(KeyboardInterrupt):
    """The user quit the debugger: the run stops. (A KeyboardInterrupt, so that no
    phase reports it as the test's own failure: phases re-raise those.)"""


def _sep(ch, title):
    """pytest's `TerminalWriter.sep` at the terminal's width."""
    from fastest_harness.reports import sep_line

    return sep_line(ch, title, shutil.get_terminal_size(fallback=(80, 24))[0])


class _Pdb(pdb.Pdb):
    """pdb that remembers a `quit` (`runcall` sets `quitting` whenever it returns) and
    resumes capture on `continue`, as pytest's `do_continue`."""

    user_quit = False
    on_continue = None

    def set_quit(self):
        self.user_quit = True
        super().set_quit()

    def do_continue(self, arg):
        ret = super().do_continue(arg)
        if self.on_continue is not None:
            self.on_continue()
        return ret

    do_c = do_cont = do_continue


class Debugger:
    def __init__(self, channel, mode):
        self.channel = channel
        self.mode = mode  # "pdb" or "trace"
        self.before_interact = None  # called with the node id before `interact`

    def _take_terminal(self, nodeid, capture):
        if self.before_interact is not None:
            self.before_interact(nodeid)
        self.channel.send("interact", nodeid=nodeid)
        cmd = self.channel.receive()
        if cmd.get("op") != "resume":
            raise QuitDebugger("the runner did not hand over the terminal")
        if capture is not None:
            capture.stop()  # the next phase starts it again
        return sys.stdout

    def _pdb(self, out, capture):
        p = _Pdb(stdin=sys.stdin, stdout=out)
        p.on_continue = lambda: self._continue(out, capture)
        return p

    def post_mortem(self, nodeid, info, longrepr, sections, capture):
        """After a failed phase (`--pdb`): pytest's `_enter_pdb`."""
        if self.mode is None or info is None:
            return
        out = self._take_terminal(nodeid, capture)
        out.write("\n")
        for title, content in sections:
            # pytest shows the test's captured output first ("captured stdout", ...).
            name = title.split()[1] if title.startswith("Captured ") else title
            out.write(_sep(">", "captured " + name) + "\n")
            out.write(content[:-1] if content.endswith("\n") else content)
            out.write("\n")
        out.write(_sep(">", "traceback") + "\n")
        out.write(longrepr.rstrip("\n") + "\n")
        out.write(_sep(">", "entering PDB") + "\n")
        out.write("\n" + _sep(">", "PDB post_mortem (IO-capturing turned off)") + "\n")
        out.flush()
        tb = info[2]
        p = self._pdb(out, capture)
        p.reset()
        p.interaction(None, tb)
        if p.user_quit:
            raise QuitDebugger("Quitting debugger")

    def _continue(self, out, capture):
        resumed = capture is not None and capture.mode != "no"
        out.write("\n" + _sep(">", "PDB continue (IO-capturing resumed)" if resumed else "PDB continue") + "\n")
        out.flush()
        if resumed:
            capture.start()

    def run_traced(self, nodeid, func, kwargs, capture):
        """`--trace`: the test function under pdb, stopped at its first line."""
        out = self._take_terminal(nodeid, capture)
        out.write("\n" + _sep(">", "PDB runcall (IO-capturing turned off)") + "\n")
        out.flush()
        p = self._pdb(out, capture)
        try:
            return p.runcall(func, **kwargs)
        finally:
            if p.user_quit:
                raise QuitDebugger("Quitting debugger")


def quit_message():
    """What pytest prints when the debugger is quit (its session-interrupting `Exit`)."""
    return _sep("!", "_pytest.outcomes.Exit: Quitting debugger")
