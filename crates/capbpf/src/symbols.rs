//! The kernel's text symbols, from /proc/kallsyms: the BPF program learns from them where the capability
//! plumbing lives (so it can skip it on a stack and read NOAUDIT and INSETID off it), and the report turns
//! the caller's return address back into a function name.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use crate::symcache;

/// /proc/kallsyms is about 12 MB on a distribution kernel; four times that is a bound, not a guess.
const MAX_KALLSYMS_BYTES: u64 = 64 << 20;

/// One text symbol: its address, and where its name and module are in the text read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Symbol {
    addr: u64,
    name: Range<usize>,
    /// `[ext4]`; empty for the core kernel.
    module: Range<usize>,
}

/// Text symbols sorted by address, over the text they were read from (one buffer, not a string each:
/// there are over a hundred thousand).
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    text: String,
    sorted: Vec<Symbol>,
}

impl Symbols {
    /// Reads /proc/kallsyms, or the copy of its text symbols kept for this boot and these modules
    /// ([`crate::symcache`]). Fails when the addresses are hidden (kptr_restrict, or not root): then every
    /// address reads as zero.
    pub fn read() -> io::Result<Symbols> {
        let cache = Path::new(symcache::CACHE_DIR);
        let key = symcache::current_key().ok();
        if let Some(text) = key.as_deref().and_then(|key| symcache::load(cache, key)) {
            let symbols = Symbols::parse(text);
            if !symbols.sorted.is_empty() {
                return Ok(symbols);
            }
        }
        let mut bytes = Vec::with_capacity(8 << 20);
        File::open("/proc/kallsyms")?
            .take(MAX_KALLSYMS_BYTES)
            .read_to_end(&mut bytes)?;
        let symbols = Symbols::parse(String::from_utf8_lossy(&bytes).into_owned());
        if symbols.sorted.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the kernel hides its symbol addresses (kernel.kptr_restrict)",
            ));
        }
        // Kept only when no module came or went while the kernel wrote them out.
        if let Some(key) = key.filter(|key| symcache::current_key().ok().as_ref() == Some(key)) {
            let _ = symcache::store(cache, &key, &symbols.kept_lines());
        }
        Ok(symbols)
    }

    /// The lines of the symbols worth keeping between runs: every text symbol but those of BPF programs
    /// and the kernel's own trampolines (`[bpf]`, `[__builtin__ftrace]`…), which come and go.
    fn kept_lines(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        for line in self.text.split_inclusive('\n') {
            let Some(symbol) = parse_line(line, 0) else {
                continue;
            };
            let module = &line[symbol.module];
            if module == "[bpf]" || module.starts_with("[__builtin__") {
                continue;
            }
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// Parses kallsyms lines (`ffffffff81000000 T _stext`, `… t bpf_prog_x_y\t[bpf]`); keeps text symbols
    /// with a non-zero address.
    fn parse(text: String) -> Symbols {
        let mut sorted = Vec::new();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            if let Some(symbol) = parse_line(line, at) {
                sorted.push(symbol);
            }
            at += line.len();
        }
        sorted.sort_by_key(|s| s.addr);
        Symbols { text, sorted }
    }

    fn name(&self, symbol: &Symbol) -> &str {
        &self.text[symbol.name.clone()]
    }

    fn module(&self, symbol: &Symbol) -> &str {
        &self.text[symbol.module.clone()]
    }

    /// The address range of every text symbol with one of `names` (or `name.isra.0`, `name.constprop.0`…:
    /// what the compiler made of it), each ending where the next symbol begins, in one pass: (index into
    /// `names`, range), in address order.
    pub fn ranges_of(&self, names: &[&str]) -> Vec<(usize, (u64, u64))> {
        let wanted: std::collections::HashMap<&str, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut out = Vec::new();
        for (i, symbol) in self.sorted.iter().enumerate() {
            let Some(&which) = wanted.get(base_name(self.name(symbol))) else {
                continue;
            };
            let end = self.sorted[i + 1..]
                .iter()
                .map(|s| s.addr)
                .find(|&a| a > symbol.addr)
                .unwrap_or(symbol.addr + 1);
            out.push((which, (symbol.addr, end)));
        }
        out
    }

    /// Where kernel code that can call capable() lives: the core kernel's text (`_stext` to `_etext`) and
    /// each module's, from its first symbol to a page past its last. BPF programs (`[bpf]`) are not text
    /// here: a frame in them is the tracer itself. At most `max` ranges: past that, neighbouring modules
    /// are merged. `None` when kallsyms has no `_stext` or `_etext`.
    pub fn text_ranges(&self, max: usize) -> Option<Vec<(u64, u64)>> {
        let bounds = self.ranges_of(&["_stext", "_etext"]);
        let start = bounds.iter().find(|(i, _)| *i == 0)?.1 .0;
        let end = bounds.iter().find(|(i, _)| *i == 1)?.1 .0;
        let mut out = vec![(start, end)];
        let mut modules: Vec<(u64, u64)> = Vec::new();
        let mut current: Option<(&str, u64, u64)> = None;
        for symbol in &self.sorted {
            let module = self.module(symbol);
            if module.is_empty() || module == "[bpf]" {
                continue;
            }
            match current {
                Some((name, first, _)) if name == module => {
                    current = Some((name, first, symbol.addr))
                }
                _ => {
                    if let Some((_, first, last)) = current {
                        modules.push((first, last + 4096));
                    }
                    current = Some((module, symbol.addr, symbol.addr));
                }
            }
        }
        if let Some((_, first, last)) = current {
            modules.push((first, last + 4096));
        }
        while !modules.is_empty() && out.len() + modules.len() > max {
            merge_closest(&mut modules);
        }
        out.extend(modules);
        Some(out)
    }

    /// The function a return address lies in, without the compiler's suffixes.
    pub fn function_at(&self, addr: u64) -> Option<&str> {
        let index = self.sorted.partition_point(|s| s.addr <= addr);
        let symbol = self.sorted.get(index.checked_sub(1)?)?;
        Some(base_name(self.name(symbol)))
    }
}

/// Merges the two neighbouring ranges with the smallest gap between them.
fn merge_closest(ranges: &mut Vec<(u64, u64)>) {
    if ranges.len() < 2 {
        ranges.truncate(0);
        return;
    }
    let mut best = 0;
    for i in 1..ranges.len() - 1 {
        if ranges[i + 1].0.saturating_sub(ranges[i].1)
            < ranges[best + 1].0.saturating_sub(ranges[best].1)
        {
            best = i;
        }
    }
    ranges[best].1 = ranges[best + 1].1.max(ranges[best].1);
    ranges.remove(best + 1);
}

/// One line, `line` starting at byte `at` of the text.
fn parse_line(line: &str, at: usize) -> Option<Symbol> {
    let mut fields = line.split_ascii_whitespace();
    let addr_text = fields.next()?;
    let kind = fields.next()?;
    if !matches!(kind, "t" | "T") {
        return None;
    }
    let addr = u64::from_str_radix(addr_text, 16).ok()?;
    let name = fields.next()?;
    if addr == 0 {
        return None;
    }
    Some(Symbol {
        addr,
        name: span(line, name, at),
        module: fields.next().map_or(0..0, |module| span(line, module, at)),
    })
}

/// Where `part`, a subslice of `line` (split from it), lies in the whole text.
fn span(line: &str, part: &str, at: usize) -> Range<usize> {
    let start = at + (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
    start..start + part.len()
}

/// `do_execveat_common.isra.0` → `do_execveat_common`.
fn base_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81000000 T _stext
ffffffff81100000 T cap_capable
ffffffff81100100 t cap_capable_helper.isra.0
ffffffff81100200 T security_capable
ffffffff81100300 D some_data
ffffffff81100400 T ns_capable_noaudit
0000000000000000 T hidden
ffffffff82000000 T _etext
ffffffffc0000000 t bpf_prog_1234_captrace_tp\t[bpf]
ffffffffc0100000 t ext4_fill_super\t[ext4]
ffffffffc0100200 t ext4_ioctl\t[ext4]
ffffffffc0200000 t vfat_fill_super\t[vfat]
ffffffffc0300000 t nft_do_chain\t[nf_tables]
";

    fn ranges(symbols: &Symbols, name: &str) -> Vec<(u64, u64)> {
        symbols
            .ranges_of(&[name])
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn the_kept_copy_leaves_out_bpf_programs_data_and_hidden_symbols() {
        let kept = Symbols::parse(SAMPLE.to_string()).kept_lines();
        assert!(kept.contains("T cap_capable\n"), "{kept}");
        assert!(kept.contains("ext4_fill_super\t[ext4]\n"), "{kept}");
        assert!(!kept.contains("[bpf]") && !kept.contains("some_data") && !kept.contains("hidden"));
        // Read back, it gives the same ranges as the whole text.
        let whole = Symbols::parse(SAMPLE.to_string());
        let copy = Symbols::parse(kept);
        assert_eq!(whole.text_ranges(8), copy.text_ranges(8));
        assert_eq!(
            whole.ranges_of(&["cap_capable"]),
            copy.ranges_of(&["cap_capable"])
        );
    }

    #[test]
    fn ranges_end_at_the_next_symbol_and_ignore_suffixes() {
        let symbols = Symbols::parse(SAMPLE.to_string());
        assert_eq!(
            ranges(&symbols, "cap_capable"),
            [(0xffffffff81100000, 0xffffffff81100100)]
        );
        assert_eq!(
            ranges(&symbols, "cap_capable_helper"),
            [(0xffffffff81100100, 0xffffffff81100200)]
        );
        assert_eq!(
            symbols.function_at(0xffffffff81100283),
            Some("security_capable")
        );
        assert_eq!(symbols.function_at(0x10), None);
        assert!(ranges(&symbols, "hidden").is_empty());
        assert_eq!(
            symbols.function_at(0xffffffffc0000010),
            Some("bpf_prog_1234_captrace_tp")
        );
    }

    #[test]
    fn text_is_the_kernel_and_each_module_but_not_bpf() {
        let symbols = Symbols::parse(SAMPLE.to_string());
        assert_eq!(
            symbols.text_ranges(8).unwrap(),
            [
                (0xffffffff81000000, 0xffffffff82000000),
                (0xffffffffc0100000, 0xffffffffc0101200),
                (0xffffffffc0200000, 0xffffffffc0201000),
                (0xffffffffc0300000, 0xffffffffc0301000),
            ]
        );
        // Room for two: the two closest modules are merged.
        assert_eq!(
            symbols.text_ranges(3).unwrap(),
            [
                (0xffffffff81000000, 0xffffffff82000000),
                (0xffffffffc0100000, 0xffffffffc0201000),
                (0xffffffffc0300000, 0xffffffffc0301000),
            ]
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let symbols =
            Symbols::parse(String::from_utf8_lossy(b"zz T x\n\xff\xfe\n1 T\n").into_owned());
        assert!(symbols.sorted.is_empty());
    }
}
