//! Links libtorch_cuda into the `rewardsmith` binary when the `torch` feature is on.

include!("../ppo/link_torch.rs");

fn main() {
    println!("cargo:rerun-if-changed=../ppo/link_torch.rs");
    link_torch();
}
