"""Per-test output capture for the native engine: fd-level (default, like pytest's
`--capture=fd`), `sys`, or none (`-s`). The fd capture files live at a path the runner
knows, so a crashed test's last output can still be shown."""
import io
import os
import sys


class Capture:
    def __init__(self, prefix, mode):
        self.mode = mode
        self.prefix = prefix
        self.active = False
        self._files = None
        self._saved_fds = None
        self._saved_sys = None
        self._streams = ()  # our own write-through stdout/stderr (nothing to flush)

    def start(self):
        if self.mode == "no" or self.active:
            return
        self.active = True
        self._saved_sys = (sys.stdout, sys.stderr)
        if self.mode == "sys":
            sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
            return
        if self._files is None:
            self._files = [open(self.prefix + ext, "w+b") for ext in (".out", ".err")]
        for f in self._files:
            f.seek(0)
            f.truncate()
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved_fds = (os.dup(1), os.dup(2))
        os.dup2(self._files[0].fileno(), 1)
        os.dup2(self._files[1].fileno(), 2)
        enc = "utf-8"
        sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), encoding=enc, errors="replace", write_through=True)
        sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), encoding=enc, errors="backslashreplace", write_through=True)
        self._streams = (sys.stdout, sys.stderr)

    def read_and_reset(self):
        """The text captured since the last call; capture continues."""
        if not self.active:
            return "", ""
        if self.mode == "sys":
            out, err = sys.stdout, sys.stderr
            texts = (out.getvalue(), err.getvalue()) if isinstance(out, io.StringIO) and isinstance(err, io.StringIO) else ("", "")
            sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
            return texts
        # Streams a test put in place may buffer; ours write through to the files.
        for stream in (sys.stdout, sys.stderr):
            if stream not in self._streams:
                try:
                    stream.flush()
                except Exception:
                    pass
        texts = []
        for f in self._files:
            # The fd shares the file's offset with the redirected 1/2: still at 0 means
            # nothing was written (one cheap lseek instead of an fstat).
            if os.lseek(f.fileno(), 0, os.SEEK_CUR) == 0:
                texts.append("")
                continue
            f.seek(0)
            data = f.read()
            f.seek(0)
            f.truncate()
            texts.append(data.decode("utf-8", "replace"))
        return texts[0], texts[1]

    def stop(self):
        if not self.active:
            return
        self.active = False
        if self.mode == "fd":
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
            os.dup2(self._saved_fds[0], 1)
            os.dup2(self._saved_fds[1], 2)
            os.close(self._saved_fds[0])
            os.close(self._saved_fds[1])
        sys.stdout, sys.stderr = self._saved_sys
