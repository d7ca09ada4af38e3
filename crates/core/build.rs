//! `sqlx::migrate!` embeds the migrations at compile time, but on stable Rust
//! a proc macro cannot tell cargo which files it read: without this, editing a
//! migration would leave the old one in the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
