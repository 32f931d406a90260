//! capsim: predicts the capabilities after execve.
fn main() {}
