//! Builds `native/audit_hook.c` into a shared object the harness loads with ctypes
//! (`AUDIT_HOOK` in lib.rs). When it cannot be built the object is empty and the harness
//! uses its audit hook written in Python: slower, the same dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=native/audit_hook.c");
    for var in ["CC", "CFLAGS", "TARGET_CC", "TARGET_CFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("fastest_audit_hook.so");
    if let Err(why) = compile(&object) {
        println!("cargo:warning=native/audit_hook.c not built ({why}): the harness uses its Python audit hook");
        std::fs::write(&object, b"").expect("writing to OUT_DIR");
    }
}

/// `cc -shared -fPIC -O2` on the source, with the compiler cc-rs would pick; no debug
/// information and no compiler ident, so the object depends on little but the source.
fn compile(object: &Path) -> Result<(), String> {
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .try_get_compiler()
        .map_err(|e| format!("no C compiler: {e}"))?;
    let mut command: Command = compiler.to_command();
    command
        .args(["-shared", "-fPIC", "-O2", "-g0", "-fno-ident", "-o"])
        .arg(object)
        .arg("native/audit_hook.c");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        // The Python C API comes from the interpreter that loads the object.
        command.args(["-undefined", "dynamic_lookup"]);
    }
    let output = command
        .output()
        .map_err(|e| format!("compiler did not start: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "compiler failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ))
    }
}
