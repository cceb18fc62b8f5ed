//! `gateway`: the directorate's side.
fn main() {}
