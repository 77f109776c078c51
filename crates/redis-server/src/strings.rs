
#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    #[test]
    fn set_then_get_and_change_log() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
        assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
        assert_eq!(c.change_log(), vec![vec!["SET", "k", "v"]]);
    }
}
