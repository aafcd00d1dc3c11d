//! Embeds `environments/*.toml`, `environments/assets/*.{urdf,xml}` and
//! `reward_scripts/<id>/*.rhai` into the crate, so the built-in
//! environments are found wherever the binary runs.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let envs_dir = root.join("environments");
    let scripts_dir = root.join("reward_scripts");
    println!("cargo:rerun-if-changed={}", envs_dir.display());
    println!("cargo:rerun-if-changed={}", scripts_dir.display());

    let mut out = String::from("/// Built-in environment files: (id, path relative to the repository, text).\n");
    out.push_str("pub static ENVIRONMENTS: &[(&str, &str, &str)] = &[\n");
    for path in sorted_files(&envs_dir, "toml") {
        let id = path.file_stem().unwrap().to_string_lossy().into_owned();
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(out, "    ({id:?}, \"environments/{id}.toml\", include_str!({:?})),", path.canonicalize().unwrap()).unwrap();
    }
    out.push_str("];\n\n/// Built-in reward scripts: (env id, path relative to the repository, text).\n");
    out.push_str("pub static REWARD_SCRIPTS: &[(&str, &str, &str)] = &[\n");
    let mut env_dirs: Vec<_> =
        std::fs::read_dir(&scripts_dir).map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    env_dirs.sort();
    for dir in env_dirs {
        println!("cargo:rerun-if-changed={}", dir.display());
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        for path in sorted_files(&dir, "rhai") {
            println!("cargo:rerun-if-changed={}", path.display());
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            writeln!(out, "    ({id:?}, \"reward_scripts/{id}/{file}\", include_str!({:?})),", path.canonicalize().unwrap()).unwrap();
        }
    }
    out.push_str("];\n\n/// Built-in model files: (path relative to the repository, text).\n");
    out.push_str("pub static ASSETS: &[(&str, &str)] = &[\n");
    let assets_dir = envs_dir.join("assets");
    println!("cargo:rerun-if-changed={}", assets_dir.display());
    for ext in ["urdf", "xml"] {
        for path in sorted_files(&assets_dir, ext) {
            println!("cargo:rerun-if-changed={}", path.display());
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            writeln!(out, "    (\"environments/assets/{file}\", include_str!({:?})),", path.canonicalize().unwrap()).unwrap();
        }
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("catalog.rs");
    std::fs::write(dest, out).unwrap();
}

fn sorted_files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect())
        .unwrap_or_default();
    files.sort();
    files
}
