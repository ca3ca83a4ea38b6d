//! The preloader's client: asks a project's preloader (python/fastest_harness/preload.py)
//! to fork a worker that has already started Python and imported pytest, and starts a
//! preloader in the background when none answers.
//!
//! A forked worker is a child of the preloader, not of the runner: its exit status comes
//! over the request's connection (`status N`), and the preloader reaps it only after the
//! runner closed that connection, so `kill` never reaches a reused pid.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Longest socket path a `sockaddr_un` holds on every Unix (108 on Linux, 104 on macOS).
const MAX_SOCKET_PATH: usize = 100;
/// How long a request may take before the worker is started the usual way: a fork is
/// milliseconds, so only a stalled preloader takes this long (its late fork then finds
/// its pipes closed and exits).
const REPLY_WITHIN: Duration = Duration::from_secs(2);
/// How long a starting preloader keeps other runs from starting one more.
const STARTING_FOR: Duration = Duration::from_secs(20);

/// Environment variables read while the interpreter starts and pytest is imported
/// (locale, `site` and `.pth` files, `tempfile`, `time`, the dynamic loader, the tools
/// that pick an interpreter): a preloader serves only runs where they are the same.
/// Every other variable is set in the worker from the run's environment.
fn read_at_start(name: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"PYTHON",
        b"LC_",
        b"PYTEST",
        b"LD_",
        b"GLIBC_",
        b"MALLOC_",
        b"COV_CORE_",
        b"COVERAGE_",
        b"SETUPTOOLS_",
        b"PYENV",
        b"CONDA",
        b"ASDF",
        b"MISE",
    ];
    const NAMES: &[&[u8]] = &[
        b"LANG",
        b"LANGUAGE",
        b"HOME",
        b"TZ",
        b"TMPDIR",
        b"TEMP",
        b"TMP",
        b"VIRTUAL_ENV",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// The directory for preloader sockets: `$XDG_RUNTIME_DIR/fastest`, else
/// `<tmp>/fastest-<uid>`, private to the user (None if it cannot be made so). Not in the
/// cache dir: that one is copied and restored (CI caches), and a socket cannot be.
pub fn runtime_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(base) => PathBuf::from(base).join("fastest"),
        None => std::env::temp_dir().join(format!("fastest-{uid}")),
    };
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0).then_some(dir)
}

/// The `<project>-` prefix of the sockets of the project whose cache is `cache_dir`.
fn project_prefix(cache_dir: &Path) -> String {
    format!(
        "{}-",
        &blake3::hash(cache_dir.as_os_str().as_bytes()).to_hex()[..16]
    )
}

/// Retires every preloader of the project whose cache is `cache_dir` (absolute): their
/// sockets are removed, and each exits within a second once its workers are done
/// (`fastest cache clear`). Returns how many sockets were removed.
pub fn retire_project(dir: &Path, cache_dir: &Path) -> usize {
    let prefix = project_prefix(cache_dir);
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".sock")
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// The interpreter a fresh worker started from `cwd` would run: an absolute path (a bare
/// name looked up on PATH). None for a version manager's shim (pyenv, asdf, mise), which
/// picks the interpreter anew from the directory and environment at every start.
fn resolve_interpreter(python: &Path, cwd: &Path) -> Option<PathBuf> {
    let found = if python.components().count() > 1 {
        Some(cwd.join(python))
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| cwd.join(dir).join(python))
            .find(|candidate| candidate.is_file())
    }?;
    let is_shim = found.components().any(|c| c.as_os_str() == "shims");
    (!is_shim && found.is_file()).then_some(found)
}

/// A project's preloader: where it listens and how it is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preloader {
    /// `<runtime dir>/<project>-<key>.sock`: the project is the cache dir, the key the
    /// interpreter, the harness, the cwd and the variables `read_at_start`.
    pub socket: PathBuf,
    python: PathBuf,
    harness: PathBuf,
    cwd: PathBuf,
    cache_dir: PathBuf,
}

impl Preloader {
    /// The preloader for workers of `python` with `harness`, started in `cwd`, for the
    /// project whose cache is `cache_dir` (absolute), in the current environment. None
    /// when the interpreter cannot be pinned down or the socket path would be too long.
    pub fn for_run(
        dir: &Path,
        cache_dir: &Path,
        cwd: &Path,
        python: &Path,
        harness: &Path,
    ) -> Option<Preloader> {
        let python = resolve_interpreter(python, cwd)?;
        let mut h = blake3::Hasher::new();
        for part in [python.as_os_str(), harness.as_os_str(), cwd.as_os_str()] {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| read_at_start(k.as_bytes()))
            .collect();
        vars.sort();
        for (k, v) in vars {
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
            h.update(b"\0");
        }
        let socket = dir.join(format!(
            "{}{}.sock",
            project_prefix(cache_dir),
            &h.finalize().to_hex()[..16]
        ));
        (socket.as_os_str().len() <= MAX_SOCKET_PATH).then(|| Preloader {
            socket,
            python,
            harness: harness.to_path_buf(),
            cwd: cwd.to_path_buf(),
            cache_dir: cache_dir.to_path_buf(),
        })
    }

    /// Starts the preloader unless one answers on its socket. It detaches at once (the
    /// process started here exits after forking it) and runs on after the runner exits,
    /// until the cache dir is removed (among other reasons: see preload.py). It starts
    /// in the run's cwd, as a fresh worker: relative `PYTHONPATH` entries resolve there.
    pub fn ensure_running(&self) {
        if UnixStream::connect(&self.socket).is_ok() {
            return;
        }
        let Some(dir) = self.socket.parent() else {
            return;
        };
        // One start at a time: a run that follows at once finds this one still
        // importing pytest. The preloader removes the marker once it listens; a marker
        // older than STARTING_FOR is from a preloader that failed to start.
        let marker = self.socket.with_extension("starting");
        if modified_over_ago(&marker, STARTING_FOR) {
            let _ = std::fs::remove_file(&marker);
        }
        let claimed = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok();
        if !claimed {
            return;
        }
        remove_leftovers(dir);
        let log = std::fs::File::create(self.socket.with_extension("log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let mut command = Command::new(&self.python);
        command
            .arg("-c")
            .arg("import sys; sys.path.insert(0, sys.argv[1]); from fastest_harness.preload import main; main()")
            .arg(&self.harness)
            .arg(&self.socket)
            .arg(&self.cache_dir)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        if let Ok(mut child) = command.spawn() {
            // It exits as soon as it has forked the preloader: reaped by a thread, so a
            // long-lived runner (`fastest watch`) keeps no zombie.
            std::thread::spawn(move || child.wait());
        }
    }
}

/// Removes what preloaders that failed to start left in `dir` over an hour ago (their
/// logs and start markers; a clean exit removes its own): projects come and go.
fn remove_leftovers(dir: &Path) {
    const AFTER: Duration = Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let leftover = path
            .extension()
            .is_some_and(|e| e == "log" || e == "starting");
        if leftover && modified_over_ago(&path, AFTER) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether `path` exists and was last modified at least `age` ago.
fn modified_over_ago(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|elapsed| elapsed >= age)
}

/// A worker forked by a preloader.
#[derive(Debug)]
pub struct ForkedWorker {
    pid: i32,
    connection: BufReader<UnixStream>,
    status: Option<ExitStatus>,
}

/// The fds a forked worker gets, in order: stdin, stdout, stderr, the command pipe's
/// read end and the event pipe's write end.
pub struct WorkerFds {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub commands: RawFd,
    pub events: RawFd,
}

/// Asks the preloader on `socket` for a worker in `cwd` with exactly `env` as its
/// environment. An error means no preloader could serve it (none running, a stale
/// one, an environment that is not UTF-8): the caller starts the worker itself.
pub fn fork_worker(
    socket: &Path,
    cwd: &Path,
    env: &[(OsString, OsString)],
    fds: &WorkerFds,
) -> std::io::Result<ForkedWorker> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let text = |s: &std::ffi::OsStr| {
        s.to_str()
            .map(str::to_string)
            .ok_or_else(|| invalid("not UTF-8"))
    };
    let mut env_map = serde_json::Map::new();
    for (k, v) in env {
        env_map.insert(text(k)?, serde_json::Value::String(text(v)?));
    }
    let umask = current_umask();
    let header = serde_json::json!({
        "cwd": text(cwd.as_os_str())?,
        "umask": umask,
        "env": env_map,
    })
    .to_string();
    let mut message = (header.len() as u32).to_le_bytes().to_vec();
    message.extend_from_slice(header.as_bytes());

    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(REPLY_WITHIN))?;
    stream.set_write_timeout(Some(REPLY_WITHIN))?;
    send_with_fds(
        &stream,
        &message,
        &[fds.stdin, fds.stdout, fds.stderr, fds.commands, fds.events],
    )?;
    let mut connection = BufReader::new(stream);
    let mut line = String::new();
    connection.read_line(&mut line)?;
    let pid: i32 = line
        .strip_prefix("pid ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| invalid("the preloader refused"))?;
    // The status follows the worker's exit at once; a preloader that stopped answering
    // must not hang the run.
    connection
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(ForkedWorker {
        pid,
        connection,
        status: None,
    })
}

impl ForkedWorker {
    pub fn kill(&mut self) {
        // The preloader reaps the worker only after this connection closes (or when it
        // exits itself): while the connection is open and no status came, the pid is
        // still the worker's. Otherwise the pid may be anyone's now.
        if self.status.is_none() && matches!(self.try_wait(), Ok(None)) {
            // SAFETY: kill(2) with a pid this runner's request created, not yet reaped.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }

    /// Waits for the exit status (None if the preloader went away first).
    pub fn wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = read_status(&mut self.connection);
        }
        self.status
    }

    /// The exit status if the worker has exited (an error: the preloader is gone).
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        if !self.connection.buffer().is_empty() {
            return Ok(self.wait());
        }
        let mut probe = [0u8; 1];
        // SAFETY: recv(2) into a one-byte buffer this frame owns.
        let peeked = unsafe {
            libc::recv(
                self.connection.get_ref().as_raw_fd(),
                probe.as_mut_ptr() as *mut libc::c_void,
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match peeked {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the preloader went away",
            )),
            n if n > 0 => Ok(self.wait()),
            _ => {
                let e = std::io::Error::last_os_error();
                match e.kind() {
                    std::io::ErrorKind::WouldBlock => Ok(None),
                    _ => Err(e),
                }
            }
        }
    }
}

/// The process's umask, read without changing it (`umask(2)` can only set it, and
/// other threads of the runner create files).
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
        })
        .unwrap_or(0o022)
}

fn read_status(connection: &mut BufReader<UnixStream>) -> Option<ExitStatus> {
    let mut line = String::new();
    connection.read_line(&mut line).ok()?;
    let raw: i32 = line.strip_prefix("status ")?.trim().parse().ok()?;
    Some(ExitStatus::from_raw(raw))
}

/// One `sendmsg` carrying `data` with `fds` attached (SCM_RIGHTS), the rest of `data`
/// by plain writes.
fn send_with_fds(stream: &UnixStream, data: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer is CMSG_SPACE(fd_bytes) long, so the first header and
    // its data fit; the fds are copied into it before sendmsg reads it.
    let sent = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr() as *const u8, libc::CMSG_DATA(cmsg), fd_bytes);
        libc::sendmsg(stream.as_raw_fd(), &msg, 0)
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    (&*stream).write_all(&data[sent as usize..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_names_the_project_interpreter_harness_and_cwd_and_fits_a_sockaddr() {
        let bin = tempfile::tempdir().unwrap();
        let python = bin.path().join("python");
        let other = bin.path().join("python3");
        std::fs::write(&python, "").unwrap();
        std::fs::write(&other, "").unwrap();
        let dir = Path::new("/tmp/fastest-0");
        let at = |cache: &str, cwd: &str, python: &Path, harness: &str| {
            Preloader::for_run(
                dir,
                Path::new(cache),
                Path::new(cwd),
                python,
                Path::new(harness),
            )
            .map(|p| p.socket)
        };
        let a = at("/p/.fastest_cache", "/p", &python, "/h1").unwrap();
        assert_eq!(
            Some(&a),
            at("/p/.fastest_cache", "/p", &python, "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/q/.fastest_cache", "/p", &python, "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/p/.fastest_cache", "/p/sub", &python, "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/p/.fastest_cache", "/p", &other, "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/p/.fastest_cache", "/p", &python, "/h2").as_ref()
        );
        // One project, one prefix: a new preloader retires the project's older ones.
        let project = |p: &Path| p.file_name().unwrap().to_string_lossy()[..16].to_string();
        let b = at("/p/.fastest_cache", "/p", &other, "/h1").unwrap();
        assert_eq!(project(&a), project(&b));
        assert!(a.starts_with(dir));
        let deep = PathBuf::from(format!("/{}", "d".repeat(120)));
        let too_long = Preloader::for_run(
            &deep,
            Path::new("/p"),
            Path::new("/p"),
            &python,
            Path::new("/h"),
        );
        assert_eq!(too_long, None);
        // A missing interpreter, and a version manager's shim, are not preloaded.
        assert_eq!(
            at("/p/.fastest_cache", "/p", &bin.path().join("nope"), "/h1"),
            None
        );
        let shims = bin.path().join("shims");
        std::fs::create_dir(&shims).unwrap();
        std::fs::write(shims.join("python"), "").unwrap();
        assert_eq!(
            at("/p/.fastest_cache", "/p", &shims.join("python"), "/h1"),
            None
        );
    }

    #[test]
    fn retiring_a_project_removes_its_sockets_only() {
        let dir = tempfile::tempdir().unwrap();
        let ours = project_prefix(Path::new("/p/.fastest_cache"));
        let theirs = project_prefix(Path::new("/q/.fastest_cache"));
        for name in [
            format!("{ours}aaaa.sock"),
            format!("{ours}bbbb.sock"),
            format!("{ours}aaaa.log"),
            format!("{theirs}aaaa.sock"),
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        assert_eq!(
            retire_project(dir.path(), Path::new("/p/.fastest_cache")),
            2
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![format!("{ours}aaaa.log"), format!("{theirs}aaaa.sock")];
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn the_umask_is_read_without_changing_it() {
        // SAFETY: umask only swaps the mask; this test restores it at once.
        let expected = unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old
        };
        assert_eq!(current_umask(), expected);
    }

    #[test]
    fn variables_read_at_interpreter_start_are_the_ones_keyed() {
        for name in [
            "PYTHONPATH",
            "LC_ALL",
            "LANG",
            "HOME",
            "TZ",
            "PYTEST_ADDOPTS",
        ] {
            assert!(read_at_start(name.as_bytes()), "{name}");
        }
        for name in ["OLDPWD", "PWD", "TERM_SESSION_ID", "CI", "NO_COLOR", "PATH"] {
            assert!(!read_at_start(name.as_bytes()), "{name}");
        }
    }
}
