//! Compiles the .proto files with protox (pure Rust, no `protoc` binary needed)
//! and generates the tonic clients and servers from the resulting descriptors.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/asterism/common.proto",
        "proto/asterism/registrar.proto",
        "proto/asterism/router.proto",
        "proto/asterism/media.proto",
        "proto/asterism/edge.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    // A Dial's limit is rare: boxed, so every Step stays small.
    tonic_prost_build::configure()
        .boxed(".asterism.router.v1.Dial.limit")
        .compile_fds(descriptors)?;
    Ok(())
}
