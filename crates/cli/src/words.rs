//! Small words: counts with the right plural, so no tool prints "1 processes".

/// `1 process`, `2 processes`: `n` and the singular or the plural.
pub fn count(n: impl Into<u128>, singular: &str, plural: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// `count` for the regular English plural: the singular plus `s`.
pub fn counted(n: impl Into<u128>, singular: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {singular}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1u32, "process", "processes"), "1 process");
        assert_eq!(count(0u32, "process", "processes"), "0 processes");
        assert_eq!(counted(1u64, "byte"), "1 byte");
        assert_eq!(counted(2u64, "byte"), "2 bytes");
    }
}
