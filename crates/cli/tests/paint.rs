//! With colour on, only capabilities that are held are painted: `full -sys_admin` does not paint the
//! sys_admin it lacks, and `full` is painted when what it stands for gives root away. A test binary of its
//! own, because the colour decision is made once per process.

use capcli::summary::{long, short, Comparison, Preset};
use capcli::term::{self, ColorChoice};
use capcore::{Cap, CapSet};

const RED: &str = "\x1b[1;31m";

#[test]
fn only_held_capabilities_are_painted() {
    assert!(term::init(ColorChoice::Always).color);
    let all = CapSet::first_n(41);
    let no_admin = all - CapSet::from_caps([Cap::SYS_ADMIN]);
    assert_eq!(short(no_admin, 41), format!("{RED}full\x1b[0m -sys_admin"));
    assert_eq!(
        long(no_admin, 41),
        format!("{RED}full\x1b[0m -cap_sys_admin (40 of 41)")
    );
    let harmless = CapSet::from_caps([Cap::NET_BIND_SERVICE]);
    assert_eq!(short(harmless, 41), "net_bind_service");
    let mixed = CapSet::from_caps([Cap::NET_RAW, Cap::SYS_ADMIN]);
    assert_eq!(
        long(mixed, 41),
        format!("cap_net_raw, {RED}cap_sys_admin\x1b[0m (2 of 41)")
    );
    let compared = Comparison::new(Preset::Oci, mixed, 41).text();
    assert!(
        compared.contains(&format!("+net_raw,{RED}sys_admin")),
        "{compared}"
    );
    assert!(!compared.contains(&format!("{RED}kill")), "{compared}");
}
