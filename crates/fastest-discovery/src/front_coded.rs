//! Serde for lists of strings that share long prefixes (node ids): each stored as the
//! length it shares with the previous one and its own bytes, over one buffer. Stored
//! collections hold tens of thousands of ids like `tests/test_x.py::TestX::test_y[...]`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct FrontCoded {
    /// Per string: bytes shared with the previous one, bytes of its own in `text`.
    lengths: Vec<(u32, u32)>,
    text: String,
}

pub fn serialize<S: Serializer>(items: &[String], s: S) -> Result<S::Ok, S::Error> {
    let mut coded = FrontCoded {
        lengths: Vec::with_capacity(items.len()),
        text: String::new(),
    };
    let mut previous = "";
    for item in items {
        let mut shared = previous
            .bytes()
            .zip(item.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !item.is_char_boundary(shared) {
            shared -= 1;
        }
        coded.text.push_str(&item[shared..]);
        coded
            .lengths
            .push((shared as u32, (item.len() - shared) as u32));
        previous = item;
    }
    coded.serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let coded = FrontCoded::deserialize(d)?;
    let mut items: Vec<String> = Vec::with_capacity(coded.lengths.len());
    let mut at = 0usize;
    for (shared, own) in coded.lengths {
        let (shared, own) = (shared as usize, own as usize);
        let previous = items.last().map_or("", String::as_str);
        let (Some(prefix), Some(suffix)) = (previous.get(..shared), coded.text.get(at..at + own))
        else {
            return Err(serde::de::Error::custom("front-coded strings out of range"));
        };
        let mut item = String::with_capacity(shared + own);
        item.push_str(prefix);
        item.push_str(suffix);
        items.push(item);
        at += own;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Ids(#[serde(with = "super")] Vec<String>);

    #[test]
    fn round_trips_shared_prefixes_and_multibyte_text() {
        let ids = Ids(vec![
            "tests/test_a.py::test_x[1]".into(),
            "tests/test_a.py::test_x[2]".into(),
            "tests/test_a.py::test_é[ü]".into(),
            "tests/test_a.py::test_é[ö]".into(),
            String::new(),
            "other".into(),
        ]);
        let bytes = bincode::serialize(&ids).unwrap();
        assert_eq!(bincode::deserialize::<Ids>(&bytes).unwrap(), ids);
    }

    #[test]
    fn out_of_range_lengths_are_an_error_not_a_panic() {
        #[derive(serde::Serialize)]
        struct Raw {
            lengths: Vec<(u32, u32)>,
            text: String,
        }
        let raw = Raw {
            lengths: vec![(5, 1)],
            text: "x".into(),
        };
        let bytes = bincode::serialize(&raw).unwrap();
        assert!(bincode::deserialize::<Ids>(&bytes).is_err());
    }
}
