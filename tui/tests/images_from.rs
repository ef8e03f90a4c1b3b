//! `maia run --images-from`: which plugin draws `text2image`/`edit_images`, and the error
//! that says what to put in maia.toml when the HTTP image plugin has no server.

mod common;
use common::*;

#[test]
fn images_from_http_without_a_server_says_what_to_configure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(maia()
        .current_dir(dir.path())
        .env("MAIA_CONFIG_DIR", dir.path())
        .args(["run", "--headless", "--images-from", "http"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("[plugins.http-images]") && err.contains("base_url ="),
        "{err}"
    );
    assert!(
        !dir.path().join("runs").exists(),
        "no run is started before the check"
    );
    let (code, _, err) = run(maia()
        .current_dir(dir.path())
        .env("MAIA_CONFIG_DIR", dir.path())
        .args(["run", "--headless", "--images-from", "dalle"]));
    assert_ne!(code, 0);
    assert!(err.contains("shapes") && err.contains("http"), "{err}");
}

#[test]
fn images_from_in_maia_toml_is_checked_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("maia.toml"),
        "[run]\nimages_from = \"http\"\n",
    )
    .expect("write");
    let (code, _, err) = run(maia()
        .current_dir(dir.path())
        .env("MAIA_CONFIG_DIR", dir.path())
        .args(["run", "--headless"]));
    assert_ne!(code, 0);
    assert!(err.contains("[plugins.http-images]"), "{err}");
}
