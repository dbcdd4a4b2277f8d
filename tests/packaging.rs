//! The package metadata (Cargo.toml's `[package.metadata.deb]` and `[package.metadata.generate-rpm]`),
//! the maintainer scripts and the MSI source agree with the systemd unit and the binary: the
//! units and the config go where the unit and `config::default_config_path` expect them, the
//! user the scripts create is the unit's `User=`, the state directory they make is the unit's
//! `StateDirectory=`. The packages themselves are built and installed by packaging/build.sh and
//! packaging/test-deb.sh (CI).

use std::collections::BTreeMap;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn metadata(tool: &str) -> toml::Table {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    manifest["package"]["metadata"][tool].as_table().unwrap().clone()
}

/// The value of `key=` in the unit's `[Service]` section (one line each here).
fn unit_value(key: &str) -> String {
    let unit = read("systemd/mailroom.service");
    let values: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect();
    assert_eq!(values.len(), 1, "{key}= in mailroom.service: {values:?}");
    values[0].to_owned()
}

/// Each asset as destination (absolute) → (source, mode).
fn deb_assets() -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for asset in metadata("deb")["assets"].as_array().unwrap() {
        let a: Vec<&str> = asset
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let [src, dest, mode] = a[..] else { panic!("{a:?}") };
        let file = src.rsplit('/').next().unwrap();
        let dest = if dest.ends_with('/') {
            format!("/{dest}{file}")
        } else {
            format!("/{dest}")
        };
        out.insert(dest, (src.to_owned(), mode.to_owned()));
    }
    out
}

fn rpm_assets() -> BTreeMap<String, toml::Table> {
    let mut out = BTreeMap::new();
    for asset in metadata("generate-rpm")["assets"].as_array().unwrap() {
        let a = asset.as_table().unwrap();
        let src = a["source"].as_str().unwrap();
        let dest = a["dest"].as_str().unwrap();
        let file = src.rsplit('/').next().unwrap();
        let dest = if dest.ends_with('/') {
            format!("{dest}{file}")
        } else {
            dest.to_owned()
        };
        out.insert(dest, a.clone());
    }
    out
}

#[test]
fn both_packages_put_the_units_and_the_config_where_the_unit_and_binary_look() {
    let config = mailroom::config::default_config_path().display().to_string();
    let deb = deb_assets();
    let rpm = rpm_assets();
    let expected = [
        ("/usr/bin/mailroom", "target/release/mailroom", "755"),
        (
            "/usr/lib/systemd/system/mailroom.service",
            "systemd/mailroom.service",
            "644",
        ),
        (
            "/usr/lib/systemd/user/mailroom-desktop.service",
            "systemd/mailroom-desktop.service",
            "644",
        ),
        (
            "/etc/xdg/autostart/mailroom-desktop.desktop",
            "systemd/mailroom-desktop.desktop",
            "644",
        ),
        (config.as_str(), "config.example.toml", "640"),
        ("/usr/share/man/man1/*.1", "target/generated/man/*.1", "644"),
        (
            "/usr/share/doc/mailroom/config.example.toml",
            "config.example.toml",
            "644",
        ),
    ];
    for (dest, src, mode) in expected {
        assert_eq!(
            deb.get(dest),
            Some(&(src.to_owned(), mode.to_owned())),
            "deb asset {dest}"
        );
        let r = rpm.get(dest).unwrap_or_else(|| panic!("rpm asset {dest}"));
        assert_eq!(r["source"].as_str(), Some(src), "rpm asset {dest}");
        assert_eq!(r["mode"].as_str(), Some(mode), "rpm asset {dest}");
    }
    // The unit's ExecStart names the config the packages install.
    assert!(unit_value("ExecStart").contains(&format!("--config {config} ")));
    // rpm: the config is kept when edited, and readable by the service's group only.
    let cfg = &rpm[&config];
    assert_eq!(cfg["config"].as_str(), Some("noreplace"));
    assert_eq!(cfg["group"].as_str(), Some(unit_value("Group").as_str()));
    // Every source in the tree exists (the generated ones come from `mailroom generate`).
    for (src, _) in deb.values() {
        if !src.starts_with("target/") {
            assert!(root().join(src).is_file(), "{src}");
        }
    }
    assert_eq!(metadata("deb")["profile"].as_str(), Some("dist"));
}

#[test]
fn the_scripts_make_the_units_user_and_state_directory() {
    let user = unit_value("User");
    assert_eq!(unit_value("Group"), user);
    let state = Path::new("/var/lib").join(unit_value("StateDirectory"));
    assert_eq!(state, mailroom::config::default_state_dir());
    assert_eq!(unit_value("StateDirectoryMode"), "0750");
    let state = state.display().to_string();

    let postinst = read("packaging/deb/postinst");
    assert!(postinst.contains(&format!("STATE={state}\n")), "postinst's STATE");
    assert!(postinst.contains(&format!(
        "adduser --system --group --home \"$STATE\" --no-create-home --quiet {user}"
    )));
    assert!(postinst.contains(&format!("chown {user}:{user} \"$ROOT$STATE\"")));
    assert!(postinst.contains("chmod 0750 \"$ROOT$STATE\""));
    let pre = read("packaging/rpm/pre.sh");
    assert!(pre.contains(&format!("groupadd --system {user}")));
    assert!(pre.contains(&format!("--home-dir {state} ")));
    let post = read("packaging/rpm/post.sh");
    assert!(post.contains(&format!("install -d -m 0750 -o {user} -g {user} {state}")));
    // The purge removes the directories the unit makes.
    let postrm = read("packaging/deb/postrm");
    let logs = Path::new("/var/log").join(unit_value("LogsDirectory"));
    for dir in [state.clone(), logs.display().to_string()] {
        assert!(postrm.contains(&format!("\"$ROOT{dir}\"")), "postrm purges {dir}");
    }
    // The start condition looks for the example's placeholders, which the example has.
    let example = read("config.example.toml");
    assert!(
        example
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("REPLACE-"))
    );
    assert!(postinst.contains("grep -q 'REPLACE-'") && post.contains("grep -q 'REPLACE-'"));
}

#[test]
fn the_msi_installs_a_demand_start_service_and_the_config_where_windows_looks() {
    let wxs = read("packaging/windows/mailroom.wxs");
    for needle in [
        r#"<Directory Id="ProgramFiles64Folder">"#,
        r#"<Directory Id="CommonAppDataFolder">"#,
        r#"<File Id="ConfigFile" Name="config.toml""#,
        r#"Start="demand""#,
        r#"Account="NT AUTHORITY\LocalService""#,
        r#"Arguments="service run""#,
        r#"Stop="both" Remove="uninstall""#,
        // Untracked by Windows Installer: an edited config survives upgrades and uninstall.
        r#"<Component Id="MailroomConfig" Guid="""#,
    ] {
        assert!(wxs.contains(needle), "mailroom.wxs lacks {needle}");
    }
    // %ProgramData%\mailroom\config.toml is the binary's Windows default (config.rs).
    let example = read("config.example.toml");
    assert!(example.contains(r"%ProgramData%\mailroom\config.toml on Windows"));
}
