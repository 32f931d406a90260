//! User and group names, read once from /etc/passwd and /etc/group.
//!
//! Looking names up through NSS (getpwuid) would load shared libraries and may ask a network directory
//! for every uid; capkit lists thousands of processes and files, so it reads the local files once and
//! shows a number for any id they do not name. Names resolve to ids from a map built in the same pass, so
//! that a unit naming 200,000 groups reads /etc/group once and looks each name up in constant time.

use std::collections::HashMap;
use std::io::Read;

/// The most of /etc/passwd or /etc/group read: far beyond any local database, and a bound on memory.
const MAX_BYTES: u64 = 64 << 20;

/// Names for ids, from a passwd- or group-format file.
#[derive(Clone, Debug, Default)]
pub struct Names {
    by_id: HashMap<u32, String>,
    by_name: HashMap<String, u32>,
}

impl Names {
    /// Users from /etc/passwd; empty (every id shown as a number) if it cannot be read.
    pub fn users() -> Names {
        Names::from_file("/etc/passwd")
    }

    /// Groups from /etc/group; empty if it cannot be read.
    pub fn groups() -> Names {
        Names::from_file("/etc/group")
    }

    fn from_file(path: &str) -> Names {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_BYTES).read_to_end(&mut bytes))
            .map(|_| Names::parse(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default()
    }

    /// Parses `name:x:id:…` lines; the first name given for an id wins, as getpwuid returns it, and the
    /// first id given for a name, as getpwnam returns it.
    pub fn parse(text: &str) -> Names {
        let mut by_id = HashMap::new();
        let mut by_name = HashMap::new();
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if let Ok(id) = id.trim().parse::<u32>() {
                by_id.entry(id).or_insert_with(|| name.to_string());
                by_name.entry(name.to_string()).or_insert(id);
            }
        }
        Names { by_id, by_name }
    }

    pub fn get(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    /// The name, or the id as a number when no name is known.
    pub fn name_or_id(&self, id: u32) -> String {
        self.get(id).map_or_else(|| id.to_string(), str::to_string)
    }

    /// The id for a name, or the name itself when it is a number.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        name.parse()
            .ok()
            .or_else(|| self.by_name.get(name).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let names = Names::parse(
            "root:x:0:0:root:/root:/bin/bash\nbad line\nnobody:x:65534:65534::/:/x\ndup:x:0:0\n",
        );
        assert_eq!(names.get(0), Some("root"));
        assert_eq!(names.name_or_id(65534), "nobody");
        assert_eq!(names.name_or_id(1234), "1234");
        assert_eq!(names.id_of("nobody"), Some(65534));
        assert_eq!(names.id_of("77"), Some(77));
        assert_eq!(names.id_of("ghost"), None);
        // The first line naming a name gives its id.
        let names = Names::parse("a:x:5:\nb:x:6:\na:x:7:\n");
        assert_eq!((names.id_of("a"), names.get(7)), (Some(5), Some("a")));
    }
}
