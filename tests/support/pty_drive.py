"""Runs a command on a pseudo-terminal, answering debugger prompts like a user.

Usage: python3 pty_drive.py [--send LINE]... -- COMMAND...
Each LINE is typed after the next `(Pdb) ` prompt appears. Prints everything the
terminal showed, then `EXIT <code>`; gives up (and kills the command) after 60 s.
Used by tests/debugger.rs.
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    argv = sys.argv[1:]
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    answers = [options[i + 1] for i in range(len(options)) if options[i] == "--send"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    shown = b""
    sent = 0
    deadline = time.time() + 60
    while True:
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            shown += b"\n[pty_drive: timed out]"
            break
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # the command exited and closed the terminal
                break
            if not data:
                break
            shown += data
        if sent < len(answers) and shown.count(b"(Pdb) ") > sent:
            os.write(fd, (answers[sent] + "\n").encode())
            sent += 1
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(shown.decode("utf-8", "replace").replace("\r\n", "\n"))
    print("\nEXIT %d" % os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
