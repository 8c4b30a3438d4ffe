//! Parse errors, limits and compile errors: where they point and what they say.

use super::*;

#[test]
fn parse_errors_name_the_position_and_what_was_expected() {
    let e = parse_err("solar AND (wind OR");
    assert_eq!(e.position, 18);
    assert!(e.to_string().contains("expected a term"), "{e}");
    let e = parse_err("solar )");
    assert_eq!(e.position, 6);
    assert!(e.to_string().contains("found ')'"), "{e}");
    let e = parse_err("\"climate change");
    assert_eq!(e.position, 0);
    assert!(e.to_string().contains("closing"), "{e}");
    assert_eq!(parse_err("cl*").position, 0);
    assert_eq!(parse_err("café cl*mate").position, 7);
    assert_eq!(parse_err("solar NEAR wind").position, 6);
    assert_eq!(parse_err("(a OR b) NEAR/2 c").position, 0);
    assert_eq!(parse_err("a NEAR/2 b NEAR/2 c").position, 11);
    assert_eq!(parse_err("a NEAR/99 b").position, 2);
    assert_eq!(parse_err("\"a*b\"").position, 2);
    assert_eq!(parse_err("solar ?!").position, 6);
    assert_eq!(parse_err("").position, 0);
    assert_eq!(parse_err("OR solar").position, 0);
    let e = parse_err("solar re:invent");
    assert_eq!(e.position, 6);
    assert!(e.to_string().contains("unknown field `re`"), "{e}");
    assert!(parse_err("source:myspace").to_string().contains("bluesky"));
    assert!(parse_err("followers:>lots").to_string().contains("number"));
    assert!(parse_err("lang:english").to_string().contains("ISO 639"));
    assert!(parse_err("lang:").to_string().contains("a value"));
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    let limits = Limits::default();
    let long = "a ".repeat(3000);
    assert!(matches!(
        parse_err(&long).kind,
        QueryErrorKind::TooLong { .. }
    ));
    let deep = format!("{}a{}", "(".repeat(20), ")".repeat(20));
    assert!(matches!(
        parse_err(&deep).kind,
        QueryErrorKind::TooDeep { limit: 16 }
    ));
    let nots = "NOT ".repeat(20) + "a";
    assert!(matches!(
        parse_err(&nots).kind,
        QueryErrorKind::TooDeep { .. }
    ));
    let many: Vec<String> = (0..65).map(|i| format!("w{i}")).collect();
    let e = parse_err(&many.join(" OR "));
    assert!(matches!(e.kind, QueryErrorKind::TooManyTerms { limit: 64 }));
    let phrase = format!("\"{}\"", "w ".repeat(17));
    assert!(matches!(
        parse_err(&phrase).kind,
        QueryErrorKind::PhraseTooLong { .. }
    ));

    let tenant = |n: usize, q: &str| SignalSet {
        signals: (0..n)
            .map(|i| signal("t", &i.to_string(), q, SignalOptions::default()))
            .collect(),
    };
    let small = Limits {
        max_rules_per_tenant: 3,
        ..limits
    };
    let e = Matcher::compile_with(&tenant(4, "a"), &small, &test_fields).unwrap_err();
    assert!(matches!(e, CompileError::TooManyRules { limit: 3, .. }));
    let (m, errors) = Matcher::compile_lenient(&tenant(4, "a"), &small, &test_fields);
    assert_eq!((m.len(), errors.len()), (3, 1));
    let e = Matcher::compile_with(&tenant(11, "NOT a"), &limits, &test_fields).unwrap_err();
    assert!(e.to_string().contains("NOT-only"), "{e}");
    let (m, _) = Matcher::compile_lenient(&tenant(11, "followers:>1"), &limits, &test_fields);
    assert_eq!((m.len(), m.unanchored()), (10, 10));
    let dup = SignalSet {
        signals: vec![
            signal("t", "x", "a", SignalOptions::default()),
            signal("t", "x", "b", SignalOptions::default()),
        ],
    };
    assert!(matches!(
        Matcher::compile_with(&dup, &limits, &test_fields),
        Err(CompileError::Duplicate { .. })
    ));
}

#[test]
fn unknown_enriched_fields_fail_compilation() {
    let set = SignalSet {
        signals: vec![signal(
            "t",
            "s",
            "no_such_field:>1",
            SignalOptions::default(),
        )],
    };
    let e = Matcher::compile(&set).unwrap_err();
    assert!(
        e.to_string().contains("unknown field `no_such_field`"),
        "{e}"
    );
    // Against the real catalogue, `sentiment:` needs `sentiment_compound` to exist.
    let set = SignalSet {
        signals: vec![signal(
            "t",
            "s",
            "sentiment:positive",
            SignalOptions::default(),
        )],
    };
    let r = Matcher::compile(&set);
    assert_eq!(r.is_ok(), crate::field_id("sentiment_compound").is_some());
}
