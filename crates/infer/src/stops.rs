//! Stop sequences: where generated text must end, and how much of it to hold back while
//! streaming because it might be the start of one.

pub(crate) struct StopSequences {
    stops: Vec<String>,
}

impl StopSequences {
    pub fn new(stops: &[String]) -> Self {
        StopSequences {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
        }
    }

    /// The earliest byte offset in `text` at which a stop sequence begins. Only matches that end
    /// after `new_from` are looked for (the ones before were looked for already).
    pub fn find(&self, text: &str, new_from: usize) -> Option<usize> {
        self.stops
            .iter()
            .filter_map(|stop| {
                let mut start = new_from.saturating_sub(stop.len() - 1);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                text[start..].find(stop.as_str()).map(|i| start + i)
            })
            .min()
    }

    /// How many bytes at the end of `text` could be the beginning of a stop sequence, so must not
    /// be streamed yet.
    pub fn held_back(&self, text: &str) -> usize {
        self.stops
            .iter()
            .filter_map(|stop| {
                (1..stop.len().min(text.len() + 1))
                    .rev()
                    .filter(|&n| stop.is_char_boundary(n) && text.is_char_boundary(text.len() - n))
                    .find(|&n| text.ends_with(&stop[..n]))
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> StopSequences {
        StopSequences::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn finds_the_earliest_stop() {
        let s = stops(&["\nUser:", "END"]);
        assert_eq!(s.find("Hello END and\nUser: hi", 0), Some(6));
        assert_eq!(s.find("no stop here", 0), None);
        // A match that straddles the already-searched part is still found.
        assert_eq!(s.find("abcEN", 0), None);
        assert_eq!(s.find("abcEND", 5), Some(3));
    }

    #[test]
    fn holds_back_a_possible_beginning() {
        let s = stops(&["\nUser:", "END"]);
        assert_eq!(s.held_back("Hello\nUs"), 3);
        assert_eq!(s.held_back("Hello E"), 1);
        assert_eq!(s.held_back("Hello"), 0);
        assert_eq!(stops(&["ü!"]).held_back("grün ü"), 2);
        assert_eq!(stops(&[]).held_back("anything"), 0);
    }
}
