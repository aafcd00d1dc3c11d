// Shared by the build scripts of the crates whose binaries, tests or examples link libtorch
// (rewardsmith-ppo, rewardsmith-cli), through `include!`.

/// With the `torch` feature: link libtorch_cuda.so into the final binary even though no symbol
/// of it is used directly. The linker otherwise drops it (`--as-needed`), CUDA is never
/// registered, and every CUDA request fails as if there were no GPU (tch-rs issue 980). Also
/// records libtorch's folder as the binary's run path, so it starts without LD_LIBRARY_PATH on
/// the machine that built it; elsewhere set LD_LIBRARY_PATH to that machine's `torch/lib`.
fn link_torch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports libtorch's folder (DEP_TCH_LIBTORCH_LIB)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        for arg in ["-Wl,--no-as-needed", &format!("-L{lib}"), "-ltorch_cuda", "-ltorch", "-Wl,--as-needed"] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
