//! Names and levels as offices and students write them.

use crate::policy::HospitalLevel;

/// The longest hospital name kept (the case form takes 100 characters too).
pub const MAX_NAME_CHARS: usize = 100;
/// At most this many other names per hospital.
pub const MAX_ALIASES: usize = 10;

/// The form a name is matched on: no spaces, full-width letters, digits and brackets folded to
/// their ASCII forms, Latin letters in lower case, and `%`, `_`, `|` dropped (they have
/// meaning in the stored alias list and in `LIKE`). 北京大学第三医院（海淀院区） and
/// "北京大学第三医院(海淀院区)" are the same hospital.
pub fn name_key(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let c = match c {
                '\u{3000}' => ' ',
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '【' | '〔' => '[',
                '】' | '〕' => ']',
                c => c,
            };
            (!c.is_whitespace() && !matches!(c, '%' | '_' | '|')).then(|| c.to_ascii_lowercase())
        })
        .collect()
}

/// A hospital name: trimmed, 1–100 characters.
pub fn parse_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("is longer than 100 characters");
    }
    if name_key(name).is_empty() {
        return Err("has no letters");
    }
    Ok(name.to_string())
}

/// Other names, separated by `、`, `，`, `,`, `;` or `；`; each a valid name, no repeats, at
/// most [`MAX_ALIASES`].
pub fn parse_aliases(text: &str) -> Result<Vec<String>, &'static str> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split(['、', '，', ',', ';', '；', '\n']) {
        if part.trim().is_empty() {
            continue;
        }
        let alias = parse_name(part).map_err(|_| "an alias is longer than 100 characters")?;
        if !out.iter().any(|a| name_key(a) == name_key(&alias)) {
            out.push(alias);
        }
    }
    if out.len() > MAX_ALIASES {
        return Err("has more than 10 aliases");
    }
    Ok(out)
}

/// The stored alias key list: `|key1|key2|`, empty without aliases.
pub fn alias_keys(aliases: &[String]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut keys = String::from("|");
    for a in aliases {
        keys.push_str(&name_key(a));
        keys.push('|');
    }
    keys
}

/// A level as written in a list: `0`–`3`, or the Chinese grade (三级, 三甲, 三级甲等, 二级乙等,
/// 一级, 未定级), or `level 2`.
pub fn parse_level(text: &str) -> Option<HospitalLevel> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let t = t.trim_start_matches("level");
    if let Ok(n) = t.parse::<i64>() {
        return HospitalLevel::new(n);
    }
    let level = if t.starts_with('三') {
        3
    } else if t.starts_with('二') {
        2
    } else if t.starts_with('一') {
        1
    } else if t.starts_with("未定") || t == "未评级" || t == "unrated" {
        0
    } else {
        return None;
    };
    HospitalLevel::new(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_across_width_space_and_case() {
        assert_eq!(
            name_key(" 北京大学第三医院（海淀院区） "),
            name_key("北京大学第三医院(海淀院区)")
        );
        assert_eq!(name_key("ＡＢＣ 医院"), "abc医院");
        assert_eq!(name_key("50%_|医院"), "50医院");
        assert_ne!(name_key("北医三院"), name_key("北医一院"));
    }

    #[test]
    fn levels_as_offices_write_them() {
        let l = |s| parse_level(s).map(|l| l.get());
        assert_eq!(l("3"), Some(3));
        assert_eq!(l("三级甲等"), Some(3));
        assert_eq!(l("三甲"), Some(3));
        assert_eq!(l("二级乙等"), Some(2));
        assert_eq!(l("一级"), Some(1));
        assert_eq!(l("未定级"), Some(0));
        assert_eq!(l("Level 2"), Some(2));
        assert_eq!(l("4"), None);
        assert_eq!(l("特级"), None);
        assert_eq!(l(""), None);
    }

    #[test]
    fn aliases_split_on_any_list_separator_and_drop_repeats() {
        let a = parse_aliases("北医三院、北医三院 ， 三院;PUTH").unwrap();
        assert_eq!(a, vec!["北医三院", "三院", "PUTH"]);
        assert_eq!(alias_keys(&a), "|北医三院|三院|puth|");
        assert!(parse_aliases("").unwrap().is_empty());
        assert_eq!(alias_keys(&[]), "");
        let many = (0..11)
            .map(|i| format!("院{i}"))
            .collect::<Vec<_>>()
            .join("、");
        assert!(parse_aliases(&many).is_err());
    }
}
