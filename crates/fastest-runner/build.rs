//! Builds `native/audit_hook.c` into a shared object the harness loads with ctypes
//! (`AUDIT_HOOK` in lib.rs). Without a C compiler the object is empty and the harness
//! uses its audit hook written in Python: slower, the same dependencies.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=native/audit_hook.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("fastest_audit_hook.so");
    let built = compile(&object);
    if !built {
        println!("cargo:warning=no C compiler for native/audit_hook.c: the harness uses its Python audit hook");
        std::fs::write(&object, b"").expect("writing to OUT_DIR");
    }
}

/// `cc -shared -fPIC -O2` on the source, with the compiler cc-rs would pick.
fn compile(object: &std::path::Path) -> bool {
    let compiler = match cc::Build::new().cargo_metadata(false).try_get_compiler() {
        Ok(c) => c,
        Err(_) => return false,
    };
    let mut command: Command = compiler.to_command();
    command
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(object)
        .arg("native/audit_hook.c");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        // The Python C API comes from the interpreter that loads the object.
        command.args(["-undefined", "dynamic_lookup"]);
    }
    command.status().map(|s| s.success()).unwrap_or(false)
}
