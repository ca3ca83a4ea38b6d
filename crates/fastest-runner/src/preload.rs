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
/// How long a starting preloader keeps other runs from starting one more.
const STARTING_FOR: Duration = Duration::from_secs(20);

/// Environment variables read while the interpreter starts and pytest is imported
/// (locale, `site`, `tempfile`, `time`): a preloader serves only runs where they are
/// the same. Every other variable is set in the worker from the run's environment.
fn read_at_start(name: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[b"PYTHON", b"LC_", b"PYTEST"];
    const NAMES: &[&[u8]] = &[
        b"LANG",
        b"LANGUAGE",
        b"HOME",
        b"TZ",
        b"TMPDIR",
        b"TEMP",
        b"TMP",
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

/// The socket of the preloader that serves workers of `python` with `harness` for the
/// project whose cache is `cache_dir`, in the current environment (None when its path
/// would be too long for a socket). Named `<project>-<key>.sock`.
pub fn socket_path(dir: &Path, cache_dir: &Path, python: &Path, harness: &Path) -> Option<PathBuf> {
    let project = blake3::hash(cache_dir.as_os_str().as_bytes());
    let mut h = blake3::Hasher::new();
    h.update(python.as_os_str().as_bytes());
    h.update(b"\0");
    h.update(harness.as_os_str().as_bytes());
    h.update(b"\0");
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
    let path = dir.join(format!(
        "{}-{}.sock",
        &project.to_hex()[..16],
        &h.finalize().to_hex()[..16]
    ));
    (path.as_os_str().len() <= MAX_SOCKET_PATH).then_some(path)
}

/// Starts a preloader on `socket` unless one answers there. It detaches at once (the
/// process started here exits after forking it) and runs on after the runner exits,
/// until `cache_dir` is removed (among other reasons: see preload.py).
pub fn ensure_running(python: &Path, harness: &Path, socket: &Path, cache_dir: &Path) {
    if UnixStream::connect(socket).is_ok() {
        return;
    }
    let Some(dir) = socket.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // One start at a time: a run that follows at once finds this one still importing
    // pytest. The preloader removes the marker once it listens; a marker older than
    // STARTING_FOR is from a preloader that failed to start.
    let marker = socket.with_extension("starting");
    let recent = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < STARTING_FOR);
    if recent || std::fs::write(&marker, b"").is_err() {
        return;
    }
    remove_leftovers(dir);
    let log = std::fs::File::create(socket.with_extension("log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let mut command = Command::new(python);
    command
        .arg("-c")
        .arg("import sys; sys.path.insert(0, sys.argv[1]); from fastest_harness.preload import main; main()")
        .arg(harness)
        .arg(socket)
        .arg(cache_dir)
        .current_dir(dir)
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

/// Removes what preloaders that failed to start left in `dir` over an hour ago (their
/// logs and start markers; a clean exit removes its own): projects come and go.
fn remove_leftovers(dir: &Path) {
    const AFTER: Duration = Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let leftover = path
            .extension()
            .is_some_and(|e| e == "log" || e == "starting");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > AFTER);
        if leftover && old {
            let _ = std::fs::remove_file(path);
        }
    }
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
    // SAFETY: umask only swaps the process's mask; it is restored at once.
    let umask = unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    };
    let header = serde_json::json!({
        "cwd": text(cwd.as_os_str())?,
        "umask": umask,
        "env": env_map,
    })
    .to_string();
    let mut message = (header.len() as u32).to_le_bytes().to_vec();
    message.extend_from_slice(header.as_bytes());

    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
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
    connection.get_ref().set_read_timeout(None)?;
    Ok(ForkedWorker {
        pid,
        connection,
        status: None,
    })
}

impl ForkedWorker {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    pub fn kill(&mut self) {
        // Until its status is read the worker is not reaped, so the pid is still its.
        if self.status.is_none() {
            // SAFETY: kill(2) with a pid this runner's request created.
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
    fn the_socket_names_the_project_interpreter_and_harness_and_fits_a_sockaddr() {
        let dir = Path::new("/tmp/fastest-0");
        let cache = Path::new("/p/.fastest_cache");
        let at = |cache: &str, python: &str, harness: &str| {
            socket_path(dir, Path::new(cache), Path::new(python), Path::new(harness))
        };
        let a = at("/p/.fastest_cache", "/v/bin/python", "/h1").unwrap();
        assert_eq!(
            Some(&a),
            at("/p/.fastest_cache", "/v/bin/python", "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/q/.fastest_cache", "/v/bin/python", "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/p/.fastest_cache", "/w/bin/python", "/h1").as_ref()
        );
        assert_ne!(
            Some(&a),
            at("/p/.fastest_cache", "/v/bin/python", "/h2").as_ref()
        );
        // One project, one prefix: a new preloader retires the project's older ones.
        let project = |p: &Path| p.file_name().unwrap().to_string_lossy()[..16].to_string();
        assert_eq!(
            project(&a),
            project(&at("/p/.fastest_cache", "/w/bin/python", "/h1").unwrap())
        );
        assert!(a.starts_with(dir));
        let deep = PathBuf::from(format!("/{}", "d".repeat(120)));
        assert_eq!(
            socket_path(&deep, cache, Path::new("/v/bin/python"), Path::new("/h1")),
            None
        );
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
