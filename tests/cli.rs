//! The command line: help, and clear errors for wrong arguments.

use std::process::Command;

fn crashcourse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .args(args)
        .output()
        .expect("run the crashcourse binary")
}

#[test]
fn help_names_the_subcommands() {
    let out = crashcourse(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bench"), "{text}");
}

#[test]
fn an_unknown_benchmark_is_a_clear_error() {
    let out = crashcourse(&["bench", "nonsense"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'nonsense'"), "{err}");
    assert!(
        err.contains("runtime"),
        "the error lists what is possible: {err}"
    );
}

#[test]
fn a_wrong_size_is_a_clear_error() {
    let out = crashcourse(&["bench", "runtime", "huge"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'huge'"), "{err}");
}
