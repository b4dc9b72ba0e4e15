//! `xtask bundle --format appimage`: the AppImage, built offline.
//!
//! An AppImage is the AppImage runtime (an ELF program) with a squashfs of an AppDir appended
//! at the offset equal to the runtime's size. The runtime comes from the `appimage` crate
//! (AppImageKit's type-2 runtime, `assets/runtime-x86_64`, pinned by Cargo.lock and by
//! [`RUNTIME_SHA256`]); the squashfs is made by `mksquashfs` (Debian: squashfs-tools). No
//! linuxdeploy, nothing downloaded.
//!
//! The AppDir is laid out as linuxdeploy and its GTK plugin lay it out:
//! - `usr/bin`: `tickstock-admin` and `tickstock`;
//! - `usr/lib`: every shared library they, WebKit's helper processes and the modules below
//!   link (the `ldd` closure), less those AppImages leave to the host ([`EXCLUDED`], the
//!   AppImage project's excludelist: glibc, libstdc++, libgcc, the OpenGL/EGL/DRM drivers,
//!   X11/xcb, fontconfig/freetype/harfbuzz, ...);
//! - WebKit's `WebKitWebProcess`, `WebKitNetworkProcess` and injected bundle, at their
//!   build-time path under `usr/` (`usr/lib/<triplet>/webkit2gtk-4.1`). WebKitGTK finds them
//!   only at that compiled-in absolute path (WEBKIT_EXEC_PATH counts in developer builds
//!   only), so the bundled libwebkit2gtk has the path binary-patched from `/usr/lib/...` to
//!   `././/lib/...` (same length), relative to the working folder, and AppRun starts the app
//!   in the AppDir's `usr/`, as linuxdeploy's GTK plugin does for Tauri apps;
//! - GIO modules (with giomodule.cache), gdk-pixbuf loaders (with a loaders.cache naming
//!   them by file name), GTK input-method modules (immodules.cache), the GLib schemas
//!   compiled;
//! - the desktop entry and icon, at the top and under `usr/share`, and `AppRun`
//!   (packaging/linux/AppRun) that points GTK, GIO, gdk-pixbuf and GLib at all this;
//! - the Debian copyright file of each package a bundled file comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};

/// The main binary (also the package and icon name) and the CLI.
use crate::{CLI, PACKAGE};

/// The runtime's package, and the digest of `assets/runtime-x86_64` in it.
const RUNTIME_CRATE: (&str, &str) = ("appimage", "0.4.0");
const RUNTIME_SHA256: &str = "328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323";

/// Libraries an AppImage takes from the host (the AppImage project's excludelist).
const EXCLUDED: &[&str] = &[
    // glibc
    "ld-linux.so.2",
    "ld-linux-x86-64.so.2",
    "libanl.so.1",
    "libBrokenLocale.so.1",
    "libcidn.so.1",
    "libc.so.6",
    "libdl.so.2",
    "libm.so.6",
    "libmvec.so.1",
    "libnss_compat.so.2",
    "libnss_dns.so.2",
    "libnss_files.so.2",
    "libnss_hesiod.so.2",
    "libnss_nisplus.so.2",
    "libnss_nis.so.2",
    "libpthread.so.0",
    "libresolv.so.2",
    "librt.so.1",
    "libthread_db.so.1",
    "libutil.so.1",
    // the C++ and gcc runtimes
    "libstdc++.so.6",
    "libgcc_s.so.1",
    // the graphics driver (OpenGL, EGL, DRM, GBM) and the display connection
    "libGL.so.1",
    "libEGL.so.1",
    "libGLdispatch.so.0",
    "libGLX.so.0",
    "libOpenGL.so.0",
    "libdrm.so.2",
    "libglapi.so.0",
    "libgbm.so.1",
    "libxcb.so.1",
    "libX11.so.6",
    "libX11-xcb.so.1",
    "libwayland-client.so.0",
    "libxcb-dri3.so.0",
    "libxcb-dri2.so.0",
    // sound
    "libasound.so.2",
    "libjack.so.0",
    "libpipewire-0.3.so.0",
    // font rendering, configured by the host
    "libfontconfig.so.1",
    "libfreetype.so.6",
    "libharfbuzz.so.0",
    "libfribidi.so.0",
    // the base system
    "libcom_err.so.2",
    "libexpat.so.1",
    "libgpg-error.so.0",
    "libICE.so.6",
    "libSM.so.6",
    "libusb-1.0.so.0",
    "libuuid.so.1",
    "libz.so.1",
    "libgmp.so.10",
];

pub struct Inputs<'a> {
    pub root: &'a Path,
    pub bin_dir: &'a Path,
    pub out: &'a Path,
    pub stage: &'a Path,
    pub version: &'a str,
    pub product_name: &'a str,
    pub short_description: &'a str,
    pub categories: &'a str,
    pub icons: Vec<PathBuf>,
}

/// Builds `OUT/tickstock-admin_VERSION_amd64.AppImage`; returns its path.
pub fn bundle(inp: &Inputs<'_>) -> Result<PathBuf> {
    let started = std::time::Instant::now();
    let runtime = runtime(inp.root)?;
    let appdir = inp.stage.join(format!("{PACKAGE}.AppDir"));
    let usr = appdir.join("usr");
    let lib = usr.join("lib");
    for d in [usr.join("bin"), lib.clone()] {
        std::fs::create_dir_all(&d)?;
    }

    // The binaries.
    let mut elves = Vec::new();
    for bin in [PACKAGE, CLI] {
        let src = inp.bin_dir.join(bin);
        ensure!(
            src.is_file(),
            "{} is missing: build the release binaries first",
            src.display()
        );
        let dest = usr.join("bin").join(bin);
        copy(&src, &dest)?;
        elves.push(dest);
    }
    mark_bundle_type(&usr.join("bin").join(PACKAGE))?;

    // Where the host's WebKitGTK and GTK live, from the library the app links.
    let linked = ldd(&elves[0])?;
    let webkit_lib = linked
        .get("libwebkit2gtk-4.1.so.0")
        .context("tickstock-admin does not link libwebkit2gtk-4.1.so.0")?
        .clone();
    let libdir = std::fs::canonicalize(&webkit_lib)?
        .parent()
        .context("libwebkit2gtk has no folder")?
        .to_path_buf();
    let webkit_dir = [
        libdir.join("webkit2gtk-4.1"),
        PathBuf::from("/usr/libexec/webkit2gtk-4.1"),
    ]
    .into_iter()
    .find(|d| d.join("WebKitWebProcess").is_file())
    .context("WebKitWebProcess not found beside libwebkit2gtk-4.1 nor in /usr/libexec")?;
    let webkit_rel = webkit_dir
        .strip_prefix("/usr")
        .context("WebKit's helpers are not under /usr")?;

    // WebKit's helper processes and injected bundle, at their path under usr/.
    let webkit_dest = usr.join(webkit_rel);
    for f in [
        "WebKitWebProcess",
        "WebKitNetworkProcess",
        "injected-bundle/libwebkit2gtkinjectedbundle.so",
    ] {
        let dest = webkit_dest.join(f);
        copy(&webkit_dir.join(f), &dest)?;
        elves.push(dest);
    }

    // Modules: GIO, gdk-pixbuf loaders, GTK input methods.
    let gio = lib.join("gio/modules");
    elves.extend(copy_modules(&libdir.join("gio/modules"), &gio)?);
    let pixbuf = lib.join("gdk-pixbuf-2.0/2.10.0");
    elves.extend(copy_modules(
        &libdir.join("gdk-pixbuf-2.0/2.10.0/loaders"),
        &pixbuf.join("loaders"),
    )?);
    let gtk = lib.join("gtk-3.0/3.0.0");
    elves.extend(copy_modules(
        &libdir.join("gtk-3.0/3.0.0/immodules"),
        &gtk.join("immodules"),
    )?);

    // Every library those link, less the host's.
    let mut libs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for elf in &elves {
        for (name, path) in ldd(elf)? {
            if !EXCLUDED.contains(&name.as_str()) {
                libs.entry(name).or_insert(path);
            }
        }
    }
    for (name, path) in &libs {
        copy(path, &lib.join(name))?;
    }
    eprintln!(
        "    bundled {} libraries, {} programs and modules",
        libs.len(),
        elves.len()
    );

    // libwebkit2gtk: its helpers' folder, relative to the working folder (see above).
    let webkit_copy = lib.join("libwebkit2gtk-4.1.so.0");
    let from = webkit_dir
        .to_str()
        .context("WebKit's folder is not UTF-8")?;
    let to = format!("././{}", &from["/usr".len()..]);
    let n = replace_in_file(&webkit_copy, from.as_bytes(), to.as_bytes())?;
    ensure!(
        n > 0,
        "{from} is not in libwebkit2gtk-4.1.so.0: cannot point it at the bundled helpers"
    );

    // Caches of the modules, naming each by file name: loaders are found on
    // LD_LIBRARY_PATH (AppRun), GIO reads its cache from the modules' folder.
    let loaders: Vec<PathBuf> = sorted_files(&pixbuf.join("loaders"))?;
    if !loaders.is_empty() {
        let query = tool(&[
            &libdir.join("gdk-pixbuf-2.0/gdk-pixbuf-query-loaders"),
            Path::new("gdk-pixbuf-query-loaders"),
        ])?;
        let cache = run_with_libs(&query, &loaders, &lib)?;
        std::fs::write(
            pixbuf.join("loaders.cache"),
            strip_dir(&cache, &pixbuf.join("loaders")),
        )?;
    }
    let immodules: Vec<PathBuf> = sorted_files(&gtk.join("immodules"))?;
    if !immodules.is_empty() {
        let query = tool(&[
            &libdir.join("libgtk-3-0/gtk-query-immodules-3.0"),
            Path::new("gtk-query-immodules-3.0"),
        ])?;
        let cache = run_with_libs(&query, &immodules, &lib)?;
        std::fs::write(
            gtk.join("immodules.cache"),
            strip_dir(&cache, &gtk.join("immodules")),
        )?;
    }
    if gio.is_dir() {
        let query = tool(&[
            &libdir.join("glib-2.0/gio-querymodules"),
            Path::new("gio-querymodules"),
        ])?;
        run_with_libs(&query, std::slice::from_ref(&gio), &lib)?;
    }

    // GLib schemas (GTK's file chooser and settings, the proxy settings), compiled.
    let schemas = usr.join("share/glib-2.0/schemas");
    std::fs::create_dir_all(&schemas)?;
    for f in sorted_files(Path::new("/usr/share/glib-2.0/schemas"))? {
        if f.extension().is_some_and(|e| e == "xml") {
            copy(&f, &schemas.join(f.file_name().unwrap()))?;
        }
    }
    let compile = tool(&[Path::new("glib-compile-schemas")])?;
    run(Command::new(compile).arg(&schemas))?;

    // The desktop entry, the icons, AppRun.
    let desktop = desktop_entry(inp)?;
    std::fs::write(appdir.join(format!("{PACKAGE}.desktop")), &desktop)?;
    let apps = usr.join("share/applications");
    std::fs::create_dir_all(&apps)?;
    std::fs::write(apps.join(format!("{PACKAGE}.desktop")), &desktop)?;
    let mut largest = None;
    for icon in &inp.icons {
        let (w, h) = png_size(icon)?;
        let dest = usr.join(format!("share/icons/hicolor/{w}x{h}/apps/{PACKAGE}.png"));
        copy(icon, &dest)?;
        if largest.as_ref().is_none_or(|(lw, _)| w > *lw) {
            largest = Some((w, icon.clone()));
        }
    }
    let (_, icon) = largest.context("no icon in bundle.icon")?;
    copy(&icon, &appdir.join(format!("{PACKAGE}.png")))?;
    std::os::unix::fs::symlink(format!("{PACKAGE}.png"), appdir.join(".DirIcon"))?;
    let apprun = appdir.join("AppRun");
    copy(&inp.root.join("packaging/linux/AppRun"), &apprun)?;
    std::fs::set_permissions(&apprun, std::fs::Permissions::from_mode(0o755))?;

    copyright_files(&libs, &webkit_dir, &usr)?;

    eprintln!(
        "    AppDir assembled in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The image: the runtime, then the squashfs of the AppDir.
    let squashfs = inp.stage.join(format!("{PACKAGE}.squashfs"));
    let mksquashfs = tool(&[Path::new("mksquashfs")])
        .context("mksquashfs is missing (Debian: apt-get install squashfs-tools)")?;
    // gzip: the runtime reads gzip and xz, and gzip unpacks several times faster at start.
    run(Command::new(mksquashfs)
        .arg(&appdir)
        .arg(&squashfs)
        .args(["-root-owned", "-noappend", "-no-xattrs", "-comp", "gzip"])
        .args(["-mkfs-time", "0", "-all-time", "0"])
        .args(["-quiet", "-no-progress"]))?;
    let out = inp
        .out
        .join(format!("{PACKAGE}_{}_amd64.AppImage", inp.version));
    let mut f =
        std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
    f.write_all(&runtime)?;
    std::io::copy(&mut std::fs::File::open(&squashfs)?, &mut f)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    eprintln!(
        "    image written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// The runtime's bytes, from the `appimage` crate's source (downloaded by `cargo metadata`).
fn runtime(root: &Path) -> Result<Vec<u8>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(root.join("xtask/Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == RUNTIME_CRATE.0 && p["version"] == RUNTIME_CRATE.1)
        .and_then(|p| p["manifest_path"].as_str())
        .with_context(|| {
            format!(
                "{} {} not in xtask's dependencies",
                RUNTIME_CRATE.0, RUNTIME_CRATE.1
            )
        })?;
    let path = Path::new(manifest)
        .parent()
        .unwrap()
        .join("assets/runtime-x86_64");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    ensure!(
        hex == RUNTIME_SHA256,
        "{} has sha256 {hex}, not the pinned {RUNTIME_SHA256}",
        path.display()
    );
    Ok(bytes)
}

/// Marks the app as running from an AppImage (Tauri's bundle type, as the bundler does for
/// the .deb).
fn mark_bundle_type(bin: &Path) -> Result<()> {
    let n = replace_in_file(
        bin,
        b"__TAURI_BUNDLE_TYPE_VAR_UNK",
        b"__TAURI_BUNDLE_TYPE_VAR_APP",
    )?;
    ensure!(n > 0, "no bundle-type marker in {}", bin.display());
    Ok(())
}

/// The shared libraries an ELF file needs, by name, as the host resolves them.
fn ldd(elf: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let out = Command::new("ldd")
        .arg(elf)
        .output()
        .context("running ldd")?;
    ensure!(
        out.status.success(),
        "ldd {} failed: {}",
        elf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut libs = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((name, rest)) = line.trim().split_once(" => ") else {
            continue; // the vDSO and the loader
        };
        if rest.starts_with("not found") {
            bail!("{} needs {name}, which is not installed", elf.display());
        }
        let path = rest.split(" (").next().unwrap_or(rest).trim();
        libs.insert(name.to_string(), PathBuf::from(path));
    }
    Ok(libs)
}

/// Copies the `.so` files of `src` (when it exists) into `dest`; returns the copies.
fn copy_modules(src: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
    let mut copies = Vec::new();
    if !src.is_dir() {
        return Ok(copies);
    }
    for f in sorted_files(src)? {
        if f.extension().is_some_and(|e| e == "so") {
            let d = dest.join(f.file_name().unwrap());
            copy(&f, &d)?;
            copies.push(d);
        }
    }
    Ok(copies)
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Copies a file's content (a symlink's target) into `dest`, creating its folder.
fn copy(src: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(src, dest)
        .with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
    Ok(())
}

/// Replaces every occurrence of `from` by `to` (same length) in a file; returns how many.
fn replace_in_file(path: &Path, from: &[u8], to: &[u8]) -> Result<usize> {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path)?;
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    if n > 0 {
        std::fs::write(path, bytes)?;
    }
    Ok(n)
}

/// The first of `candidates` that exists (a bare name: on PATH).
fn tool(candidates: &[&Path]) -> Result<PathBuf> {
    for c in candidates {
        if c.components().count() > 1 {
            if c.is_file() {
                return Ok(c.to_path_buf());
            }
        } else if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(c))
                .find(|p| p.is_file())
        }) {
            return Ok(p);
        }
    }
    bail!("none of {candidates:?} is installed")
}

/// Runs a query tool of the host with the bundled libraries first, so the modules load
/// against the libraries they will meet in the image; returns its output.
fn run_with_libs(tool: &Path, args: &[PathBuf], lib: &Path) -> Result<String> {
    let out = Command::new(tool)
        .args(args)
        .env("LD_LIBRARY_PATH", lib)
        .output()
        .with_context(|| format!("running {}", tool.display()))?;
    ensure!(
        out.status.success(),
        "{} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    ensure!(
        status.success(),
        "{:?} failed ({status})",
        cmd.get_program()
    );
    Ok(())
}

/// A module cache with the modules' folder removed from their paths.
fn strip_dir(cache: &str, dir: &Path) -> String {
    cache.replace(&format!("\"{}/", dir.display()), "\"")
}

/// The desktop entry from packaging/linux's template, as the .deb has it.
fn desktop_entry(inp: &Inputs<'_>) -> Result<String> {
    let template = inp.root.join("packaging/linux/tickstock-admin.desktop");
    let mut hb = handlebars::Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_template_string("desktop", std::fs::read_to_string(&template)?)
        .with_context(|| format!("parsing {}", template.display()))?;
    let comment = (!inp.short_description.is_empty()).then_some(inp.short_description);
    Ok(hb.render(
        "desktop",
        &serde_json::json!({
            "categories": inp.categories,
            "comment": comment,
            "exec": PACKAGE,
            "icon": PACKAGE,
            "name": inp.product_name,
        }),
    )?)
}

/// Width and height of a PNG, from its header.
fn png_size(path: &Path) -> Result<(u32, u32)> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        b.len() > 24 && &b[..8] == b"\x89PNG\r\n\x1a\n" && &b[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let n = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok((n(16), n(20)))
}

/// The copyright file of every Debian package a bundled library or helper comes from
/// (where dpkg knows them), under usr/share/doc/PACKAGE/.
fn copyright_files(libs: &BTreeMap<String, PathBuf>, webkit_dir: &Path, usr: &Path) -> Result<()> {
    // dpkg knows a file by the path its package ships, which merged-/usr hosts may reach
    // by another (ldd's /lib/... for /usr/lib/..., a symlink for its target): ask for all.
    let mut paths = Vec::new();
    for p in libs.values().chain([&webkit_dir.join("WebKitWebProcess")]) {
        for q in [
            p.clone(),
            std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()),
        ] {
            let other = match q.strip_prefix("/usr") {
                Ok(rest) => Path::new("/").join(rest),
                Err(_) => Path::new("/usr").join(q.strip_prefix("/").unwrap_or(&q)),
            };
            paths.extend([q, other]);
        }
    }
    let Ok(out) = Command::new("dpkg").arg("-S").args(&paths).output() else {
        return Ok(()); // not a Debian host
    };
    let mut packages = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((pkgs, _)) = line.split_once(": ") {
            for p in pkgs.split(", ") {
                packages.insert(p.split(':').next().unwrap_or(p).to_string());
            }
        }
    }
    for p in packages {
        let src = Path::new("/usr/share/doc").join(&p).join("copyright");
        if src.is_file() {
            copy(&src, &usr.join("share/doc").join(&p).join("copyright"))?;
        }
    }
    Ok(())
}
