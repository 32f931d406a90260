//! capkit's integration tests: every binary run for real against real files, processes and the
//! reference tools it replaces. One test crate, so the binaries link once.

mod rawfs;
mod util;

mod bpf;
mod capdecode;
mod capls;
mod capnet;
mod capscan;
mod capsim;
mod capsim_cri;
mod capsim_docker;
mod capsim_kernel;
mod capsim_oci;
mod captrace;
mod completions;
mod ecs;
mod house;
mod json;
mod libcap;
mod spawn;
