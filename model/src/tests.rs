use super::*;

fn sample() -> &'static str {
    r#"{"id":"mastodon:mastodon.social/1","source":"mastodon","kind":"reply","url":"https://mastodon.social/@a/1",
        "created_at":"2026-11-26T04:00:00Z","collected_at":"2026-11-26T04:00:01.250Z","text":"Hello #rust",
        "lang_hint":"en","author":{"id":"42","handle":"alice","followers":10,"verified":false},
        "engagement":{"likes":3},"refs":{"reply_to":"mastodon:mastodon.social/0"},
        "brand_new_key":{"nested":[1,2]}}"#
}

#[test]
fn decodes_and_keeps_unknown_keys() {
    let m = Mention::decode(sample().as_bytes(), DecodeLimits::default()).expect("valid mention");
    assert_eq!(m.kind, Kind::Reply);
    assert_eq!(m.author.followers, Some(10));
    assert_eq!(m.engagement.likes, Some(3));
    assert_eq!(m.engagement.reposts, None);
    assert_eq!(
        m.extra["brand_new_key"],
        serde_json::json!({"nested": [1, 2]})
    );
    let back: Value = serde_json::to_value(&m).expect("serialises");
    assert_eq!(back["brand_new_key"]["nested"][1], 2);
    let again: Mention = serde_json::from_value(back).expect("round trip");
    assert_eq!(again, m);
}

#[test]
fn decode_names_the_first_problem() {
    let limits = DecodeLimits {
        max_bytes: 64 * 1024,
        max_depth: 8,
        max_id_bytes: 64,
    };
    let reason = |b: &[u8]| {
        Mention::decode(b, limits)
            .map(|_| ())
            .map_err(|e| e.reason())
    };
    assert_eq!(reason(&vec![b' '; 70 * 1024]), Err("too_large"));
    assert_eq!(reason(b"{\"id\":\"\xff\"}"), Err("invalid_utf8"));
    assert_eq!(reason("[".repeat(9).as_bytes()), Err("too_deep"));
    // At the limit the nesting passes (and the unclosed JSON is what is wrong with it).
    assert_eq!(reason("{".repeat(8).as_bytes()), Err("malformed_json"));
    assert_eq!(reason("{".repeat(9).as_bytes()), Err("too_deep"));
    assert_eq!(reason(b"{\"id\": "), Err("malformed_json"));
    assert_eq!(reason(b"not json"), Err("malformed_json"));
    assert_eq!(reason(b"{\"id\": 5}"), Err("not_a_mention"));
    let no_id = sample().replace(r#""id":"mastodon:mastodon.social/1","#, "");
    assert_eq!(reason(no_id.as_bytes()), Err("not_a_mention"));
    let empty_id = sample().replace("mastodon:mastodon.social/1\"", "\"");
    assert_eq!(reason(empty_id.as_bytes()), Err("not_a_mention"));
    let id_of = |n: usize| sample().replace("mastodon:mastodon.social/1", &"x".repeat(n));
    assert!(reason(id_of(64).as_bytes()).is_ok());
    assert_eq!(reason(id_of(65).as_bytes()), Err("id_too_long"));
    // Brackets inside strings do not count towards depth.
    let deep_text = sample().replace("Hello #rust", &"[{".repeat(50));
    assert!(Mention::decode(deep_text.as_bytes(), limits).is_ok());
}

#[test]
fn committed_json_schema_matches_the_types() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/schema/mention.schema.json"
    );
    let generated = serde_json::to_string_pretty(&mention_json_schema()).expect("schema") + "\n";
    if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/schema/mention.schema.json is out of date; regenerate it with \
         `BACKCHANNEL_BLESS=1 cargo test -p model`"
    );
}

#[test]
fn signal_match_names_are_plain_strings_on_the_wire() {
    // The names share one allocation for speed; JSON and schema must not notice.
    let m = SignalMatch {
        signal: SignalId::new("acme", "launch"),
        version: 3,
        highlights: [[0, 4]].into_iter().collect(),
    };
    let json = serde_json::to_string(&m).expect("serialise");
    assert_eq!(
        json,
        r#"{"tenant":"acme","signal":"launch","version":3,"highlights":[[0,4]]}"#
    );
    assert_eq!(
        serde_json::from_str::<SignalMatch>(&json).expect("parse"),
        m
    );
    let schema = serde_json::to_value(schemars::schema_for!(SignalMatch)).expect("schema");
    for name in ["tenant", "signal"] {
        assert_eq!(
            schema["properties"][name]["type"], "string",
            "{name}: {schema}"
        );
    }
}

#[test]
fn signal_ids_compare_by_tenant_then_id_not_by_their_joined_names() {
    // Joined, "a"+"zz" sorts after "ab"+"a"; by tenant it comes first.
    let (a, b) = (SignalId::new("a", "zz"), SignalId::new("ab", "a"));
    assert!(a < b);
    assert_ne!(SignalId::new("ab", "c"), SignalId::new("a", "bc"));
    assert_eq!(
        (a.tenant(), a.id(), a.to_string()),
        ("a", "zz", "a/zz".into())
    );
    let m = SignalMatch {
        signal: b,
        version: 1,
        highlights: Highlights::new(),
    };
    assert_eq!(
        serde_json::to_string(&m).expect("serialise"),
        r#"{"tenant":"ab","signal":"a","version":1}"#,
        "empty highlights are left out"
    );
}
