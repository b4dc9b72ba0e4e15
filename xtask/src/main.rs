//! `xtask bundle`: packages the release binaries: the .deb with Tauri's bundler, the
//! AppImage offline with [`appimage`] (Tauri's AppImage step downloads linuxdeploy and its
//! plugins, which cannot be had offline).
//!
//! The tauri CLI reads `tauri.conf.json` from the crate folder (`src-tauri/`) only, and this
//! project keeps it at the top (read by `src-tauri/build.rs`), so the CLI cannot bundle it.
//! This calls the same bundler the CLI calls (the `tauri-bundler` crate), with settings taken
//! from the top-level `tauri.conf.json`: product, version, identifier, icons, and the
//! `bundle` section (category, descriptions, `linux.deb`).
//!
//! ```text
//! xtask bundle --root DIR --bin-dir DIR --out DIR --format deb|appimage
//! ```
//! `--bin-dir` holds the built `tickstock-admin` and `tickstock` (`target/release`); they
//! are bundled from copies in `--out/.stage-FORMAT`, and the package is written into
//! `--out`. Exit 0 when the package was written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod appimage;

use anyhow::{bail, Context, Result};
use tauri_bundler::{
    AppCategory, BundleBinary, BundleSettings, DebianSettings, PackageSettings, PackageType,
    SettingsBuilder,
};
use tauri_utils::config::Config;

/// The package (and main binary) name: lowercase, as Debian requires; the desktop entry
/// shows the product name from its template.
const PACKAGE: &str = "tickstock-admin";
/// The second binary the package installs.
const CLI: &str = "tickstock";

struct Args {
    root: PathBuf,
    bin_dir: PathBuf,
    out: PathBuf,
    format: PackageType,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("bundle") => {}
        _ => bail!("usage: xtask bundle --root DIR --bin-dir DIR --out DIR --format deb|appimage"),
    }
    let (mut root, mut bin_dir, mut out, mut format) = (None, None, None, None);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(value)),
            "--bin-dir" => bin_dir = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            "--format" => {
                format = Some(match value.as_str() {
                    "deb" => PackageType::Deb,
                    "appimage" => PackageType::AppImage,
                    other => bail!("unknown format {other} (deb or appimage)"),
                })
            }
            other => bail!("unknown option {other}"),
        }
    }
    let root = std::fs::canonicalize(root.context("--root is required")?)?;
    Ok(Args {
        bin_dir: std::fs::canonicalize(bin_dir.context("--bin-dir is required")?)?,
        out: out.context("--out is required")?,
        format: format.context("--format is required")?,
        root,
    })
}

/// A path from the config, relative to the folder of `tauri.conf.json`.
fn rooted(root: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

fn rooted_map(root: &Path, m: &HashMap<PathBuf, PathBuf>) -> HashMap<PathBuf, PathBuf> {
    m.iter()
        .map(|(dest, src)| (dest.clone(), rooted(root, src)))
        .collect()
}

/// `stage` holds copies of the binaries: the bundler patches the main binary with the
/// package type and leaves it so when a step fails, so it never sees the build's own.
fn settings(args: &Args, config: &Config, stage: &Path) -> Result<tauri_bundler::Settings> {
    let root = &args.root;
    let b = &config.bundle;
    let deb = &b.linux.deb;
    let version = config
        .version
        .clone()
        .context("tauri.conf.json has no version")?;
    let description = b.short_description.clone().unwrap_or_default();
    let category = match &b.category {
        Some(c) => Some(
            c.parse::<AppCategory>()
                .map_err(|e| anyhow::anyhow!("bundle.category: {e:?}"))?,
        ),
        None => None,
    };
    let bundle = BundleSettings {
        identifier: Some(config.identifier.clone()),
        publisher: b.publisher.clone(),
        homepage: b.homepage.clone(),
        icon: Some(
            b.icon
                .iter()
                .map(|i| rooted(root, Path::new(i)).display().to_string())
                .collect(),
        ),
        copyright: b.copyright.clone(),
        license: b.license.clone(),
        license_file: b.license_file.as_deref().map(|p| rooted(root, p)),
        category,
        short_description: b.short_description.clone(),
        long_description: b.long_description.clone(),
        deb: DebianSettings {
            depends: deb.depends.clone(),
            recommends: deb.recommends.clone(),
            provides: deb.provides.clone(),
            conflicts: deb.conflicts.clone(),
            replaces: deb.replaces.clone(),
            files: rooted_map(root, &deb.files),
            desktop_template: deb.desktop_template.as_deref().map(|p| rooted(root, p)),
            section: deb.section.clone(),
            priority: deb.priority.clone(),
            changelog: deb.changelog.as_deref().map(|p| rooted(root, p)),
            pre_install_script: deb.pre_install_script.as_deref().map(|p| rooted(root, p)),
            post_install_script: deb.post_install_script.as_deref().map(|p| rooted(root, p)),
            pre_remove_script: deb.pre_remove_script.as_deref().map(|p| rooted(root, p)),
            post_remove_script: deb.post_remove_script.as_deref().map(|p| rooted(root, p)),
        },
        ..Default::default()
    };
    for bin in [PACKAGE, CLI] {
        let path = args.bin_dir.join(bin);
        if !path.is_file() {
            bail!(
                "{} is missing: build the release binaries first",
                path.display()
            );
        }
        std::fs::copy(&path, stage.join(bin))
            .with_context(|| format!("copying {} to {}", path.display(), stage.display()))?;
    }
    let builder = SettingsBuilder::new()
        .project_out_directory(stage)
        .package_types(vec![args.format])
        .package_settings(PackageSettings {
            product_name: PACKAGE.into(),
            version,
            description,
            homepage: b.homepage.clone(),
            authors: None,
            default_run: Some(PACKAGE.into()),
        })
        .bundle_settings(bundle)
        .binaries(vec![
            BundleBinary::new(PACKAGE.into(), true),
            BundleBinary::new(CLI.into(), false),
        ])
        .binary_patching(true)
        .log_level(log::Level::Info);
    Ok(builder.build()?)
}

/// The AppImage, from the same settings as the .deb.
fn bundle_appimage(args: &Args, config: &Config, stage: &Path) -> Result<PathBuf> {
    let b = &config.bundle;
    let categories = match &b.category {
        Some(c) => c
            .parse::<AppCategory>()
            .map_err(|e| anyhow::anyhow!("bundle.category: {e:?}"))?
            .freedesktop_categories(),
        None => "",
    };
    appimage::bundle(&appimage::Inputs {
        root: &args.root,
        bin_dir: &args.bin_dir,
        out: &args.out,
        stage,
        version: config
            .version
            .as_deref()
            .context("tauri.conf.json has no version")?,
        product_name: config
            .product_name
            .as_deref()
            .context("tauri.conf.json has no productName")?,
        short_description: b.short_description.as_deref().unwrap_or_default(),
        categories,
        icons: b
            .icon
            .iter()
            .map(|i| rooted(&args.root, Path::new(i)))
            .collect(),
    })
}

/// Prints the bundler's `log` records on stderr.
struct Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("    {:>8} {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> Result<()> {
    log::set_logger(&Logger).ok();
    log::set_max_level(log::LevelFilter::Info);
    let args = parse_args()?;
    let conf = args.root.join("tauri.conf.json");
    let text =
        std::fs::read_to_string(&conf).with_context(|| format!("reading {}", conf.display()))?;
    let config: Config =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", conf.display()))?;
    std::fs::create_dir_all(&args.out)?;
    let stage = args
        .out
        .join(format!(".stage-{}", args.format.short_name()));
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    std::fs::create_dir_all(&stage)?;
    let stage = std::fs::canonicalize(&stage)?;
    if matches!(args.format, PackageType::AppImage) {
        let path = bundle_appimage(&args, &config, &stage)?;
        println!("{}", path.display());
        std::fs::remove_dir_all(&stage)?;
        return Ok(());
    }
    let settings = settings(&args, &config, &stage)?;
    let bundles = tauri_bundler::bundle_project(&settings)
        .with_context(|| format!("bundling {}", args.format.short_name()))?;
    for bundle in bundles {
        for path in bundle.bundle_paths {
            let dest = args
                .out
                .join(path.file_name().context("bundle without a name")?);
            std::fs::copy(&path, &dest)
                .with_context(|| format!("copying {} to {}", path.display(), dest.display()))?;
            println!("{}", dest.display());
        }
    }
    std::fs::remove_dir_all(&stage)?;
    Ok(())
}
