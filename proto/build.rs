//! Compiles the wire contract with protox, a protobuf compiler written in
//! Rust, so a machine with only the Rust toolchain can build the workspace.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/prikk/v1/report.proto",
        "proto/prikk/v1/gateway.proto",
        "proto/prikk/v1/helper.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
