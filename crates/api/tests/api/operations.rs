//! Issue 10, finding 5: the private cluster's files are its owner's alone, and no password of
//! any Thrive role is on any process's command line. (That the embedded cluster is durable,
//! `fsync` and `full_page_writes` on, is checked by the restore drill on a cluster configured
//! as the run's; the test cluster is a throwaway with `fsync` off.)

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The private cluster's directory, when the tests run against one (`cargo xtask test`).
fn cluster_dir() -> Option<PathBuf> {
    std::env::var_os("THRIVE_TEST_CLUSTER_DIR").map(PathBuf::from)
}

#[test]
fn the_private_cluster_files_are_readable_by_their_owner_only() {
    let Some(dir) = cluster_dir() else {
        eprintln!("skipped: the tests run against an external PostgreSQL");
        return;
    };
    for (path, at_most) in [
        (dir.join("pgdata"), 0o700),
        (dir.join("postgres.log"), 0o600),
        (dir.join("secrets.env"), 0o600),
    ] {
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(
            mode & !at_most,
            0,
            "{} is {mode:o}, more open than {at_most:o}",
            path.display()
        );
    }
    // The directory itself: nobody else may list it (root's runs let postgres pass through).
    let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
    assert_eq!(mode & 0o066, 0, "{} is {mode:o}", dir.display());
}

#[test]
fn no_process_has_a_thrive_password_on_its_command_line() {
    let passwords: Vec<String> = [
        "THRIVE_TEST_OWNER_PASSWORD",
        "THRIVE_TEST_APP_PASSWORD",
        "THRIVE_TEST_AUTH_PASSWORD",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .chain(
        std::env::var("THRIVE_TEST_ADMIN_URL")
            .ok()
            .and_then(|url| admin_password(&url)),
    )
    .filter(|p| p.len() >= 8)
    .collect();
    assert!(
        !passwords.is_empty(),
        "the test environment names no password"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        seen += 1;
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for password in &passwords {
            assert!(
                !text.contains(password.as_str()),
                "process {:?} has a password on its command line",
                entry.file_name()
            );
        }
    }
    assert!(seen > 1, "no process could be read");
}

fn admin_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split(['/', '?']).next()?.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1.to_owned())
}

#[test]
fn the_administrator_commands_refuse_a_password_on_their_command_line() {
    for command in ["provision", "verify-audit", "purge-closed"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_thrive-api"))
            .args([
                command,
                "--admin-url",
                "postgres://thrive_admin:visible-in-ps@127.0.0.1:1/postgres",
                "--database",
                "thrive",
            ])
            .env_remove("THRIVE_ADMIN_URL")
            .output()
            .expect("run thrive-api");
        assert!(!out.status.success(), "{command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("must not carry a password"),
            "{command}: {stderr}"
        );
    }
}
