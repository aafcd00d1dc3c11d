//! Links libtorch_cuda into the tests and examples when the `torch` feature is on.

include!("link_torch.rs");

fn main() {
    println!("cargo:rerun-if-changed=link_torch.rs");
    link_torch();
}
